import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { quietLogger } from '../../helpers/wait.js'

describe('ratelimit plugin', () => {
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as StoaError,
    )

  it('refuses calls past the budget with RATE_LIMITED and when to come back, per identity', async () => {
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 2, durationSec: 60 } } })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      .add('role:vote,cmd:other', () => ({ ok: true }))
    await stoa.ready()
    const cast = (token: string) => stoa.act('role:vote,cmd:cast', {}, { token })
    expect(await cast('alice')).to.deep.equal({ ok: true })
    expect(await cast('alice')).to.deep.equal({ ok: true })
    const refused = await failure(cast('alice'))
    expect(refused).to.be.instanceOf(StoaError)
    expect(refused!.code).to.equal('RATE_LIMITED')
    expect(refused!.details!.retryAfterMs).to.be.a('number').within(1, 60_000)
    // Another identity has its own budget, and an action not named is not limited.
    expect(await cast('bob')).to.deep.equal({ ok: true })
    for (let i = 0; i < 5; i++) await stoa.act('role:vote,cmd:other', {}, { token: 'alice' })
    await stoa.close()
  })

  it('counts per client address and per route as asked', async () => {
    const stoa = createStoa({ name: 'auth', logger: quietLogger() })
      .use(ratelimit, {
        limits: {
          'role:auth,cmd:login': { points: 1, durationSec: 60, by: 'address' },
          'role:auth,cmd:reset': { points: 1, durationSec: 60, by: 'route' },
        },
      })
      .add('role:auth,cmd:login', () => 'in')
      .add('role:auth,cmd:reset', () => 'reset')
    await stoa.ready()
    const from = (ip: string) => ({ headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` } })
    expect(await stoa.act('role:auth,cmd:login', {}, from('1.1.1.1'))).to.equal('in')
    expect((await failure(stoa.act('role:auth,cmd:login', {}, { ...from('1.1.1.1'), token: 'other' })))!.code).to.equal(
      'RATE_LIMITED',
    )
    expect(await stoa.act('role:auth,cmd:login', {}, from('2.2.2.2'))).to.equal('in')
    expect(await stoa.act('role:auth,cmd:reset', {}, { token: 'a' })).to.equal('reset')
    expect((await failure(stoa.act('role:auth,cmd:reset', {}, { token: 'b' })))!.code).to.equal('RATE_LIMITED')
    await stoa.close()
  })

  it('limits an act the service reaches through a client, before it leaves', async () => {
    const bus = createMemoryBus()
    let logins = 0
    const heard: Record<string, string>[] = []
    const auth = createStoa({ name: 'auth', logger: quietLogger() }).add('role:auth,cmd:login', (_msg, ctx) => {
      heard.push({ ...ctx.headers })
      return ++logins
    })
    auth.listen(createMemoryTransport({ bus }))
    const gateway = createStoa({ name: 'vote', logger: quietLogger() }).use(ratelimit, {
      limits: { 'role:auth,cmd:login': { points: 2, durationSec: 60, by: 'address' } },
    })
    gateway.client(createMemoryTransport({ bus }), ['role:auth'])
    await Promise.all([auth.ready(), gateway.ready()])
    const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } })
    expect(await gateway.act('role:auth,cmd:login', { user: 'a' }, from('1.1.1.1'))).to.equal(1)
    expect(await gateway.act('role:auth,cmd:login', { user: 'b' }, from('1.1.1.1'))).to.equal(2)
    const refused = await failure(gateway.act('role:auth,cmd:login', { user: 'c' }, from('1.1.1.1')))
    expect(refused!.code).to.equal('RATE_LIMITED')
    expect(refused!.details).to.include({ limit: 2, windowSec: 60, policy: 'cmd:login,role:auth' })
    expect(logins, 'the refused call never reached auth').to.equal(2)
    // The gateway's request headers served its hook and went no further.
    expect(heard).to.deep.equal([{}, {}])
    expect(await gateway.act('role:auth,cmd:login', { user: 'a' }, from('2.2.2.2'))).to.equal(3)
    await gateway.close()
    await auth.close()
  })
})

describe('ratelimit plugin over a web route', () => {
  it('answers 429 RATE_LIMITED with Retry-After', async () => {
    const { default: web, serveWeb } = await import('../../../plugins/web/index.js')
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 1, durationSec: 30 } } })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' } })
    await stoa.ready()
    const server = await serveWeb(stoa)
    try {
      const post = () => fetch(`${server.url}/votes`, { method: 'POST', headers: { authorization: 'Bearer t1' } })
      expect((await post()).status).to.equal(200)
      const res = await post()
      expect(res.status).to.equal(429)
      const after = Number(res.headers.get('retry-after'))
      expect(after).to.be.within(1, 30)
      // The IETF fields: the policy (quota q per window w) and what is left of it (r for t s).
      expect(res.headers.get('ratelimit-policy')).to.equal('"cmd:cast,role:vote";q=1;w=30')
      expect(res.headers.get('ratelimit')).to.equal(`"cmd:cast,role:vote";r=0;t=${after}`)
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('RATE_LIMITED')
    } finally {
      await server.close()
      await stoa.close()
    }
  })

  it('says where the caller stands on every answer of a limited route, local, nested or remote; none elsewhere', async () => {
    const { default: web, serveWeb } = await import('../../../plugins/web/index.js')
    const bus = createMemoryBus()
    const auth = createStoa({ name: 'auth', logger: quietLogger() }).add('role:auth,cmd:login', () => ({ in: true }))
    auth.listen(createMemoryTransport({ bus }))
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, {
        limits: {
          'role:vote,cmd:cast': { points: 3, durationSec: 30 },
          'role:auth,cmd:login': { points: 5, durationSec: 60, by: 'address' },
        },
      })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      // An action calling the limited one: its answer carries the budget the nested call spent.
      .add('role:vote,cmd:twice', async (_msg, ctx) => {
        await ctx.act('role:vote,cmd:cast')
        return ctx.act('role:vote,cmd:cast')
      })
      .add('role:vote,cmd:open', () => ({ ok: true }))
      .use(web, {
        routes: {
          'POST /votes': 'role:vote,cmd:cast',
          'POST /twice': 'role:vote,cmd:twice',
          'POST /open': 'role:vote,cmd:open',
          'POST /login': 'role:auth,cmd:login',
        },
      })
    stoa.client(createMemoryTransport({ bus }), ['role:auth'])
    await Promise.all([auth.ready(), stoa.ready()])
    const server = await serveWeb(stoa)
    try {
      const post = (path: string) =>
        fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: 'Bearer t1', 'x-forwarded-for': '203.0.113.9' },
        })
      const fields = (res: Response) => [res.status, res.headers.get('ratelimit-policy'), res.headers.get('ratelimit')]
      const first = await post('/votes')
      const t = Number(/t=(\d+)$/.exec(first.headers.get('ratelimit') ?? '')?.[1])
      expect(t).to.be.within(1, 30)
      expect(fields(first)).to.deep.equal([200, '"cmd:cast,role:vote";q=3;w=30', `"cmd:cast,role:vote";r=2;t=${t}`])
      // Two nested calls: one member each, in the order they spent.
      const twice = await post('/twice')
      expect(twice.status).to.equal(200)
      expect(twice.headers.get('ratelimit')).to.match(
        /^"cmd:cast,role:vote";r=1;t=\d+, "cmd:cast,role:vote";r=0;t=\d+$/,
      )
      expect(fields(await post('/votes')).slice(0, 2)).to.deep.equal([429, '"cmd:cast,role:vote";q=3;w=30'])
      // An action reached through a client: counted before it leaves, the fields on the gateway's answer.
      expect(fields(await post('/login')).slice(0, 2)).to.deep.equal([200, '"cmd:login,role:auth";q=5;w=60'])
      expect((await post('/login')).headers.get('ratelimit')).to.match(/^"cmd:login,role:auth";r=3;t=\d+$/)
      expect(fields(await post('/open'))).to.deep.equal([200, null, null])
    } finally {
      await server.close()
      await stoa.close()
      await auth.close()
    }
  })
})
