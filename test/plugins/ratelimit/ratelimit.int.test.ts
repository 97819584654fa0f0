import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { createStoa, StoaError } from '../../../actions/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { freePort } from '../../helpers/ports.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const REDIS = 'redis://127.0.0.1:6379'

describe('ratelimit plugin: shared budgets and every way in', function () {
  this.timeout(20000)
  const prefix = `e25:rl_${process.pid}_${Date.now()}`
  const closers: (() => Promise<unknown> | unknown)[] = []
  const redis = new Redis(REDIS, { lazyConnect: true })

  before(() => redis.connect())
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })
  after(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  async function gateway(
    limits: Record<string, { points: number; durationSec: number; by?: 'identity' | 'address' | 'route' }>,
    store: unknown,
  ) {
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits, store: store as 'memory' })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' }, streams: { '/live': 'vote.*' } })
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return { stoa, url: server.url }
  }

  it('makes two gateways on one Redis spend one budget, with the IETF fields on the 429', async () => {
    const limits = { 'role:vote,cmd:cast': { points: 3, durationSec: 60 } }
    const store = { redis: REDIS, prefix }
    const [a, b] = [await gateway(limits, store), await gateway(limits, store)]
    const post = (url: string, voter: string) =>
      fetch(`${url}/votes`, { method: 'POST', headers: { authorization: `Bearer ${voter}` } })
    const statuses = []
    for (const url of [a.url, b.url, a.url, b.url]) statuses.push((await post(url, 'ada')).status)
    expect(statuses, 'three calls across both, the fourth refused').to.deep.equal([200, 200, 200, 429])
    const refused = await post(a.url, 'ada')
    expect(refused.status).to.equal(429)
    // A token comes back every 20 s: that is the wait; the bucket is whole again in 60.
    const after = Number(refused.headers.get('retry-after'))
    expect(after).to.be.within(1, 20)
    expect(refused.headers.get('ratelimit-policy')).to.equal('"cmd:cast,role:vote";q=3;w=60')
    const reset = Number(/^"cmd:cast,role:vote";r=0;t=(\d+)$/.exec(refused.headers.get('ratelimit') ?? '')?.[1])
    expect(reset).to.be.within(after + 39, 60)
    // Another voter has a budget of its own, on either gateway.
    expect((await post(b.url, 'bo')).status).to.equal(200)
    const keys = await redis.keys(`${prefix}:*`)
    expect(keys).to.have.length(2)
    expect(keys.join(' '), 'a token is a credential: only its digest is a key').not.to.match(/ada|bo\b/)
  })

  it('answers every limited call with what is left of the shared budget, counted across gateways', async () => {
    const limits = { 'role:vote,cmd:cast': { points: 3, durationSec: 60 } }
    const store = { redis: REDIS, prefix }
    const [a, b] = [await gateway(limits, store), await gateway(limits, store)]
    const post = (url: string) => fetch(`${url}/votes`, { method: 'POST', headers: { authorization: 'Bearer cy' } })
    const left = []
    for (const url of [a.url, b.url, a.url]) {
      const res = await post(url)
      expect(res.status).to.equal(200)
      expect(res.headers.get('ratelimit-policy')).to.equal('"cmd:cast,role:vote";q=3;w=60')
      const m = /^"cmd:cast,role:vote";r=(\d+);t=(\d+)$/.exec(res.headers.get('ratelimit') ?? '')
      expect(m, 'a RateLimit field').not.to.equal(null)
      expect(Number(m![2])).to.be.within(1, 60)
      left.push(Number(m![1]))
    }
    expect(left).to.deep.equal([2, 1, 0])
  })

  it('refuses to start when the Redis it is given cannot be reached', async () => {
    const port = await freePort()
    const stoa = createStoa({ name: 'vote', logger: quietLogger() }).use(ratelimit, {
      limits: { 'role:vote,cmd:cast': { points: 1, durationSec: 60 } },
      store: { redis: `redis://127.0.0.1:${port}`, prefix },
    })
    const err = await stoa.ready().then(
      () => undefined,
      (e: unknown) => e as StoaError,
    )
    await stoa.close().catch(() => undefined)
    expect(err).to.be.instanceOf(StoaError)
    expect(err!.code).to.equal('UNAVAILABLE')
    expect(err!.message).to.contain(`127.0.0.1:${port}`)
  })

  it('counts in memory while Redis is gone, and in Redis again once it is back', async () => {
    const own = await ownRedis()
    closers.push(
      () => own.remove(),
      () => own.stop(),
    )
    const limits = { 'role:vote,cmd:cast': { points: 2, durationSec: 60 } }
    const { stoa } = await gateway(limits, { redis: own.url, prefix, timeoutMs: 200 })
    const cast = (voter: string) =>
      stoa.act('role:vote,cmd:cast', {}, { token: voter }).then(
        () => 'ok',
        (e: unknown) => (e as StoaError).code,
      )
    expect(await cast('ada')).to.equal('ok')
    await own.stop()
    // Redis is down: this instance's own budget of 2 still holds.
    expect([await cast('cy'), await cast('cy'), await cast('cy')]).to.deep.equal(['ok', 'ok', 'RATE_LIMITED'])
    await own.start()
    const check = new Redis(own.url)
    closers.push(() => check.quit())
    // The client reconnects on its own: calls go on meanwhile, each voter new, until one is
    // counted in Redis (bounded: ioredis retries within a couple of seconds).
    for (let i = 0; i < 100 && (await check.keys(`${prefix}:*`)).length === 0; i++) {
      expect(await cast(`probe${i}`)).to.equal('ok')
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(await check.keys(`${prefix}:*`)).to.have.length(1)
    expect([await cast('dee'), await cast('dee'), await cast('dee')]).to.deep.equal(['ok', 'ok', 'RATE_LIMITED'])
  })

  it('limits an act over the HTTP transport like a route: 429 RATE_LIMITED with the same fields', async () => {
    const server = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 1, durationSec: 30 } } })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
    const listener = createHttpTransport()
    server.listen(listener, ['role:vote'])
    await server.ready()
    closers.push(() => server.close())
    const caller = createStoa({ name: 'caller', logger: quietLogger() })
    caller.client(createHttpTransport({ url: listener.address()! }), ['role:vote'])
    await caller.ready()
    closers.push(() => caller.close())
    expect(await caller.act('role:vote,cmd:cast', {}, { token: 'ada' })).to.deep.equal({ ok: true })
    const refused = await caller.act('role:vote,cmd:cast', {}, { token: 'ada' }).then(
      () => undefined,
      (e: unknown) => e as StoaError,
    )
    expect(refused?.code).to.equal('RATE_LIMITED')
    expect(refused?.details?.retryAfterMs).to.be.a('number')
    const raw = await fetch(`${listener.address()}/act`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ada' },
      body: JSON.stringify({ role: 'vote', cmd: 'cast' }),
    })
    expect(raw.status).to.equal(429)
    expect(raw.headers.get('ratelimit-policy')).to.equal('"cmd:cast,role:vote";q=1;w=30')
    expect(((await raw.json()) as { code: string }).code).to.equal('RATE_LIMITED')
  })

  it('limits an act over WebSocket like a route', async () => {
    const { url } = await gateway({ 'role:vote,cmd:cast': { points: 2, durationSec: 60 } }, 'memory')
    const conn = new WebSocket(`${url.replace('http', 'ws')}/live`, { headers: { authorization: 'Bearer ada' } })
    closers.push(() => conn.terminate())
    const replies: { id: number; ok: boolean; error?: { code: string; details?: Record<string, unknown> } }[] = []
    conn.on('message', (d) => replies.push(JSON.parse(String(d))))
    await new Promise((resolve, reject) => conn.once('open', resolve).once('error', reject))
    for (let id = 1; id <= 3; id++) conn.send(JSON.stringify({ id, act: 'role:vote,cmd:cast', msg: {} }))
    await waitFor(() => replies.length === 3, 'three replies')
    replies.sort((x, y) => x.id - y.id)
    expect(replies.map((r) => r.ok)).to.deep.equal([true, true, false])
    expect(replies[2]!.error!.code).to.equal('RATE_LIMITED')
    expect(replies[2]!.error!.details).to.include({ limit: 2, windowSec: 60 })
    // The socket's budget is the caller's: a route call with the same identity is refused too.
    const viaRoute = await fetch(`${url}/votes`, { method: 'POST', headers: { authorization: 'Bearer ada' } })
    expect(viaRoute.status).to.equal(429)
  })
})

/** A Redis server of this test's own, on its own port, that it may stop and start again. */
async function ownRedis() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'edge_redis_'))
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const start = async () => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    child = proc
    await new Promise<void>((resolve, reject) => {
      let out = ''
      proc.stdout!.on('data', (d: Buffer) => {
        out += String(d)
        if (out.includes('Ready to accept connections')) resolve()
      })
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
    })
  }
  const stop = async () => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null) return
    await new Promise((resolve) => {
      proc.once('exit', resolve)
      proc.kill('SIGKILL')
    })
  }
  await start()
  return {
    url,
    start,
    stop: async () => {
      await stop()
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
