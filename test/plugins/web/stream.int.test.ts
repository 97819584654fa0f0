import { connect } from 'node:net'
import { expect } from 'chai'
import express from 'express'
import WebSocket from 'ws'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { WebOptions } from '../../../plugins/web/index.js'
import web, { mountWeb, serveWeb, upgradeWeb } from '../../../plugins/web/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

/** A server-sent events client over fetch: the records it read, and a way to stop. */
interface SseClient {
  readonly status: number
  readonly headers: Headers
  readonly events: { id?: string; event?: string; data?: string }[]
  readonly comments: string[]
  close(): void
}

async function sse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController()
  const res = await fetch(url, { headers, signal: abort.signal })
  const events: SseClient['events'] = []
  const comments: string[] = []
  const out: SseClient = { status: res.status, headers: res.headers, events, comments, close: () => abort.abort() }
  if (res.status !== 200 || res.body === null) {
    await res.text().catch(() => undefined)
    return out
  }
  void (async () => {
    let buf = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8')
        let at = buf.indexOf('\n\n')
        while (at >= 0) {
          const record = buf.slice(0, at)
          buf = buf.slice(at + 2)
          const e: Record<string, string> = {}
          for (const line of record.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else {
              const i = line.indexOf(':')
              e[line.slice(0, i)] = line.slice(i + 1).trimStart()
            }
          }
          if (Object.keys(e).length > 0) events.push(e)
          at = buf.indexOf('\n\n')
        }
      }
    } catch {
      // aborted
    }
  })()
  return out
}

/** A WebSocket client keeping every frame it got. */
async function socket(url: string, headers: Record<string, string> = {}) {
  const conn = new WebSocket(url, { headers })
  const frames: Record<string, unknown>[] = []
  let closed: number | undefined
  conn.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>))
  conn.on('close', (code) => {
    closed = code
  })
  await new Promise<void>((resolve, reject) => {
    conn.once('open', () => resolve())
    conn.once('error', reject)
  })
  return { conn, frames, closedWith: () => closed }
}

/** The status a refused WebSocket upgrade was answered with. */
function refusedWith(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const conn = new WebSocket(url, { headers })
    conn.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      res.resume()
    })
    conn.on('open', () => reject(new Error('the upgrade was accepted')))
    conn.on('error', () => undefined)
  })
}

describe('web plugin: event streams (SSE and WebSocket)', function () {
  this.timeout(20000)
  const closers: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  async function gateway(options: WebOptions = {}, name = 'gateway'): Promise<{ stoa: Stoa<any>; url: string }> {
    const stoa = createStoa({ name, logger: quietLogger() })
    stoa.add('role:live,cmd:view', (msg, ctx) => {
      // Each caller sees only its own voter's events, with the payload shaped for it.
      const data = msg.data as { voter?: string }
      return data.voter === ctx.token ? { mine: data.voter } : null
    })
    stoa.add('role:live,cmd:open', (_msg, ctx) => {
      if (ctx.token !== 'alice' && ctx.token !== 'bob') throw new StoaError('FORBIDDEN', 'not on the list')
      return {}
    })
    stoa.add('role:live,cmd:echo', (msg, ctx) => ({ said: msg.said, as: ctx.token ?? null }))
    stoa.add('role:live,cmd:secret', () => ({ secret: true }))
    stoa.use(web, {
      routes: { 'POST /echo': 'role:live,cmd:echo' },
      streams: {
        '/live': 'vote.*',
        '/mine': { event: 'vote.recorded', map: 'role:live,cmd:view', open: 'role:live,cmd:open' },
      },
      ...options,
    })
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return { stoa, url: server.url }
  }

  it('streams each event to an SSE client with its id, name and data, and sends heartbeats', async () => {
    const { stoa, url } = await gateway({ stream: { heartbeatMs: 50 } })
    const client = await sse(`${url}/live`)
    closers.push(() => client.close())
    expect(client.status).to.equal(200)
    expect(client.headers.get('content-type')).to.match(/^text\/event-stream/)
    expect(client.headers.get('x-accel-buffering')).to.equal('no')
    await waitFor(() => client.comments.includes('open'), 'the stream to open')
    await stoa.emit('vote.recorded', { voter: 'v1' })
    await stoa.emit('vote.withdrawn', { voter: 'v2' })
    await stoa.emit('user.created', { user: 'u' })
    await waitFor(() => client.events.length >= 2, 'two events')
    await waitFor(() => client.comments.includes('heartbeat'), 'a heartbeat')
    await settle()
    expect(client.events.map((e) => [e.event, JSON.parse(e.data!)])).to.deep.equal([
      ['vote.recorded', { voter: 'v1' }],
      ['vote.withdrawn', { voter: 'v2' }],
    ])
    expect(client.events[0]!.id).to.be.a('string').and.not.equal(client.events[1]!.id)
  })

  it('resumes after Last-Event-ID from the buffer, and from now on for an id it does not hold', async () => {
    const { stoa, url } = await gateway()
    const first = await sse(`${url}/live`)
    closers.push(() => first.close())
    await waitFor(() => first.comments.includes('open'), 'the stream to open')
    for (const voter of ['a', 'b', 'c']) await stoa.emit('vote.recorded', { voter })
    await waitFor(() => first.events.length === 3, 'three events')
    first.close()
    const resumed = await sse(`${url}/live`, { 'last-event-id': first.events[0]!.id! })
    const unknown = await sse(`${url}/live`, { 'last-event-id': 'elsewhere-7' })
    closers.push(
      () => resumed.close(),
      () => unknown.close(),
    )
    await waitFor(() => resumed.events.length === 2, 'the two missed events')
    await settle()
    expect(resumed.events.map((e) => JSON.parse(e.data!).voter)).to.deep.equal(['b', 'c'])
    expect(unknown.events).to.deep.equal([])
  })

  it("maps each event through the route's action with the caller's identity, and guards the stream with open", async () => {
    const { stoa, url } = await gateway()
    const alice = await sse(`${url}/mine`, { authorization: 'Bearer alice' })
    const bob = await sse(`${url}/mine`, { authorization: 'Bearer bob' })
    closers.push(
      () => alice.close(),
      () => bob.close(),
    )
    const eve = await sse(`${url}/mine`, { authorization: 'Bearer eve' })
    const nobody = await sse(`${url}/mine`)
    expect([alice.status, bob.status, eve.status, nobody.status]).to.deep.equal([200, 200, 403, 403])
    await waitFor(() => alice.comments.includes('open') && bob.comments.includes('open'), 'both streams')
    for (const voter of ['alice', 'bob', 'carol', 'alice']) await stoa.emit('vote.recorded', { voter })
    await waitFor(() => alice.events.length === 2 && bob.events.length === 1, 'the events of each')
    await settle()
    expect(alice.events.map((e) => JSON.parse(e.data!))).to.deep.equal([{ mine: 'alice' }, { mine: 'alice' }])
    expect(bob.events.map((e) => JSON.parse(e.data!))).to.deep.equal([{ mine: 'bob' }])
  })

  it('answers 503 OVERLOADED past the per-instance connection limit', async () => {
    const { url } = await gateway({ stream: { maxConnections: 2 } })
    const a = await sse(`${url}/live`)
    const b = await sse(`${url}/live`)
    closers.push(
      () => a.close(),
      () => b.close(),
    )
    await waitFor(() => a.comments.includes('open') && b.comments.includes('open'), 'two streams')
    const res = await fetch(`${url}/live`)
    expect(res.status).to.equal(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('OVERLOADED')
    a.close()
    // Its place is freed once the server sees it gone.
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      const c = await sse(`${url}/live`)
      status = c.status
      c.close()
      if (status !== 200) await settle(50)
    }
    expect(status).to.equal(200)
  })

  it('drops a client that stops reading rather than buffer for it without bound', async () => {
    const { stoa, url } = await gateway({ stream: { maxBufferedBytes: 64 * 1024 } })
    const { port } = new URL(url)
    const raw = connect(Number(port), '127.0.0.1')
    let received = 0
    let ended = false
    raw.on('close', () => {
      ended = true
    })
    raw.write('GET /live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await new Promise<void>((resolve) => raw.once('data', () => resolve()))
    raw.pause()
    raw.on('data', (d) => {
      received += d.length
    })
    closers.push(() => void raw.destroy())
    const big = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 2000 && !ended; i++) {
      await stoa.emit('vote.recorded', { big })
      if (i % 50 === 49) await settle(5)
    }
    raw.resume()
    await waitFor(() => ended, 'the slow client to be dropped', 15000)
    expect(received).to.be.lessThan(2000 * big.length)
    expect(stoa.log).to.have.property('entries')
    const entries = (stoa.log as unknown as ReturnType<typeof quietLogger>).entries
    expect(entries.some((e) => e.message === 'a slow stream client was dropped')).to.equal(true)
  })

  it('streams over WebSocket, and lets the client act on the routes’ actions with its identity', async () => {
    const { stoa, url } = await gateway()
    const ws = await socket(`${url.replace('http', 'ws')}/live`, { authorization: 'Bearer alice' })
    closers.push(() => ws.conn.terminate())
    await stoa.emit('vote.recorded', { voter: 'v1' })
    ws.conn.send(JSON.stringify({ id: 1, act: 'role:live,cmd:echo', msg: { said: 'hi' } }))
    ws.conn.send(JSON.stringify({ id: 2, act: 'role:live,cmd:secret', msg: {} }))
    await waitFor(() => ws.frames.length >= 3, 'an event and two replies')
    const event = ws.frames.find((f) => f.type === 'event')
    expect(event).to.include({ event: 'vote.recorded' })
    expect(event!.data).to.deep.equal({ voter: 'v1' })
    const replies = ws.frames.filter((f) => f.type === 'reply')
    expect(replies.find((r) => r.id === 1)).to.deep.include({ ok: true, out: { said: 'hi', as: 'alice' } })
    const refused = replies.find((r) => r.id === 2) as { ok: boolean; error: { code: string } }
    expect(refused.ok).to.equal(false)
    expect(refused.error.code).to.equal('NOT_FOUND')
  })

  it('refuses a WebSocket upgrade from another origin, and without the identity open asks', async () => {
    const { url } = await gateway({ stream: { allowedOrigins: ['https://app.example.com'] } })
    const at = url.replace('http', 'ws')
    expect(await refusedWith(`${at}/live`, { origin: 'https://evil.example.com' })).to.equal(403)
    expect(await refusedWith(`${at}/mine`, { origin: 'https://app.example.com' })).to.equal(403)
    expect(await refusedWith(`${at}/nothing`)).to.equal(404)
    const ok = await socket(`${at}/live`, { origin: 'https://app.example.com' })
    ok.conn.close()
  })

  it('answers bad frames with their codes, closes on an oversized frame and on a flood of bad ones', async () => {
    const { url } = await gateway({ stream: { maxFrameBytes: 1024 } })
    const at = `${url.replace('http', 'ws')}/live`
    const a = await socket(at)
    a.conn.send('{not json')
    a.conn.send(JSON.stringify([1, 2]))
    a.conn.send(JSON.stringify({ id: 'x', act: 'role:live,cmd:echo', msg: 'no' }))
    await waitFor(() => a.frames.length === 3, 'three answers')
    expect(a.frames.map((f) => (f.error as { code: string }).code)).to.deep.equal([
      'INVALID_JSON',
      'INVALID_MESSAGE',
      'INVALID_MESSAGE',
    ])
    a.conn.send('x'.repeat(4096))
    await waitFor(() => a.closedWith() !== undefined, 'the close')
    expect(a.closedWith()).to.equal(1009)
    const b = await socket(at)
    for (let i = 0; i < 50; i++) b.conn.send('nope')
    await waitFor(() => b.closedWith() !== undefined, 'the close')
    expect(b.closedWith()).to.equal(1008)
  })

  it('serves the same streams under mountWeb (SSE) and upgradeWeb (WebSocket) on your own server', async () => {
    const stoa = createStoa({ name: 'gateway', logger: quietLogger() }).use(web, { streams: { '/live': 'vote.*' } })
    await stoa.ready()
    const app = express()
    await mountWeb(stoa, app)
    const server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    const sockets = await upgradeWeb(stoa, server)
    const port = (server.address() as { port: number }).port
    closers.push(
      () => stoa.close(),
      () => new Promise<void>((r) => server.close(() => r())),
      () => server.closeAllConnections(),
      () => sockets.close(),
    )
    const client = await sse(`http://127.0.0.1:${port}/live`)
    const ws = await socket(`ws://127.0.0.1:${port}/live`)
    closers.push(() => client.close())
    await waitFor(() => client.comments.includes('open'), 'the stream to open')
    await stoa.emit('vote.recorded', { voter: 'v9' })
    await waitFor(() => client.events.length === 1 && ws.frames.length === 1, 'the event on both')
    expect(JSON.parse(client.events[0]!.data!)).to.deep.equal({ voter: 'v9' })
    expect(ws.frames[0]).to.deep.include({ type: 'event', event: 'vote.recorded' })
  })

  it('gives every gateway instance the event, wherever it was emitted', async () => {
    const bus = createMemoryBus()
    const urls: string[] = []
    for (const i of [0, 1]) {
      const g = createStoa({ name: 'gateway', logger: quietLogger() })
        .use(web, { streams: { '/live': 'vote.*' } })
        .listen(createMemoryTransport({ bus }))
      await g.ready()
      const server = await serveWeb(g)
      closers.push(
        () => g.close(),
        () => server.close(),
      )
      urls[i] = server.url
    }
    const worker = createStoa({ name: 'tally', logger: quietLogger() }).client(createMemoryTransport({ bus }))
    await worker.ready()
    closers.push(() => worker.close())
    const clients = await Promise.all(urls.map((u) => sse(`${u}/live`)))
    for (const c of clients) closers.push(() => c.close())
    await waitFor(() => clients.every((c) => c.comments.includes('open')), 'both streams')
    await worker.emit('vote.recorded', { voter: 'v1' })
    await waitFor(() => clients.every((c) => c.events.length === 1), 'the event at both gateways')
    await settle()
    expect(clients.map((c) => c.events.length)).to.deep.equal([1, 1])
  })
})
