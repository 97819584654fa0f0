import { IncomingMessage } from 'node:http'
import { expect } from 'chai'
import express from 'express'
import type { Transport } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { Envelope } from '../../../actions/transport.js'
import metrics, { httpMetrics, metricsEndpoint, webMetrics } from '../../../plugins/metrics/index.js'
import web, { serveWeb, webRoutes } from '../../../plugins/web/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) continue
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2])
  }
  return undefined
}

async function scrape(s: { act(p: string): Promise<unknown> }): Promise<string> {
  return ((await s.act('role:metrics,cmd:scrape')) as { text: string }).text
}

describe('metrics plugin', () => {
  it('counts calls by pattern, kind and outcome, times them, and never labels a raw message', async () => {
    const s = createStoa({ name: 'math', logger: quietLogger() })
      .use(metrics, { processMetrics: false })
      .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
      .add('role:math,cmd:fail', async () => {
        throw new StoaError('FORBIDDEN', 'no')
      })
      .add('task:math.sum.log', () => undefined)
      .on('sum.done', () => undefined)
    for (let i = 0; i < 3; i++) await s.act('role:math,cmd:sum', { left: i, right: 'secret-value-42' })
    await s.act('role:math,cmd:fail').catch(() => undefined)
    await s.act('role:math,cmd:boom,unknown:x').catch(() => undefined)
    await s.send('math.sum.log', {})
    await s.emit('sum.done', {})
    await new Promise((r) => setTimeout(r, 10))
    const text = await scrape(s)
    const sum = s.find('role:math,cmd:sum')!.key
    const fail = s.find('role:math,cmd:fail')!.key
    expect(
      sample(text, 'stoa_calls_total', {
        service: 'math',
        pattern: sum,
        kind: 'act',
        transport: 'local',
        outcome: 'ok',
      }),
    ).to.equal(3)
    expect(sample(text, 'stoa_calls_total', { pattern: fail, outcome: 'FORBIDDEN' })).to.equal(1)
    expect(sample(text, 'stoa_calls_total', { kind: 'task', outcome: 'ok' })).to.equal(1)
    expect(sample(text, 'stoa_calls_total', { pattern: 'event:sum.done', kind: 'event' })).to.equal(1)
    expect(sample(text, 'stoa_call_duration_seconds_count', { pattern: sum, outcome: 'ok' })).to.equal(3)
    expect(sample(text, 'stoa_calls_in_flight', { pattern: sum })).to.equal(0)
    expect(text).not.to.include('secret-value-42')
    expect(text).not.to.include('boom')
    await s.close()
  })

  it('shows a running call in flight', async () => {
    let release = () => {}
    const s = createStoa({ name: 'slow', logger: quietLogger() })
      .use(metrics, { processMetrics: false })
      .add('role:slow', () => new Promise<void>((r) => (release = r)))
    const running = s.act('role:slow')
    await new Promise((r) => setTimeout(r, 5))
    expect(sample(await scrape(s), 'stoa_calls_in_flight', { pattern: 'role:slow' })).to.equal(1)
    release()
    await running
    expect(sample(await scrape(s), 'stoa_calls_in_flight', { pattern: 'role:slow' })).to.equal(0)
    await s.close()
  })

  it('counts calls through client transports by transport, kind, name and outcome', async () => {
    const client: Transport = {
      name: 'rec',
      client: async () => ({
        deliver: async (e: Envelope) =>
          e.name === 'bad.thing.do'
            ? { ok: false, error: { code: 'UNAVAILABLE', message: 'down' } }
            : { ok: true, out: undefined },
      }),
      close: async () => undefined,
    }
    const s = createStoa({ name: 'gw', logger: quietLogger() }).use(metrics, { processMetrics: false }).client(client)
    await s.send('tally.vote.record', {})
    await s.send('bad.thing.do', {}).catch(() => undefined)
    const text = await scrape(s)
    expect(
      sample(text, 'stoa_remote_calls_total', {
        transport: 'rec',
        kind: 'send',
        name: 'tally.vote.record',
        outcome: 'ok',
      }),
    ).to.equal(1)
    expect(sample(text, 'stoa_remote_calls_total', { name: 'bad.thing.do', outcome: 'UNAVAILABLE' })).to.equal(1)
    await s.close()
  })

  it('counts what a transport observer reports, and has process and event-loop metrics', async () => {
    const s = createStoa({ name: 'w', logger: quietLogger() }).use(metrics)
    const seen = s.handleOf(metrics).observe('amqp')
    seen.received('send')
    await s.ready()
    seen.received('send')
    seen.retried('send', 1)
    seen.deadLettered('emit', 'INVALID_MESSAGE')
    seen.reconnected()
    seen.confirmed(3, true)
    const text = await scrape(s)
    expect(sample(text, 'stoa_transport_received_total', { transport: 'amqp', kind: 'send' })).to.equal(1)
    expect(sample(text, 'stoa_transport_retried_total', { kind: 'send' })).to.equal(1)
    expect(sample(text, 'stoa_transport_dead_lettered_total', { kind: 'emit', code: 'INVALID_MESSAGE' })).to.equal(1)
    expect(sample(text, 'stoa_transport_reconnects_total', { transport: 'amqp' })).to.equal(1)
    expect(sample(text, 'stoa_transport_publish_confirms_total', { outcome: 'ok' })).to.equal(1)
    expect(text).to.include('nodejs_eventloop_lag_seconds')
    expect(text).to.include('process_cpu_user_seconds_total')
    await s.close()
  })

  it('serves /metrics and counts web responses by route template and status', async () => {
    const s = createStoa({ name: 'gw', logger: quietLogger() })
      .use(metrics, { processMetrics: false })
      .add('role:vote,cmd:get', (m) => ({ id: m.id }))
      .use(web, { routes: { 'GET /votes/:id': 'role:vote,cmd:get' } })
    await s.ready()
    const app = express()
    app.use(httpMetrics(s, await webRoutes(s)))
    app.get('/metrics', metricsEndpoint(s))
    const server = await serveWeb(s, { app })
    try {
      await rawRequest(server.url, 'GET', '/votes/123')
      await rawRequest(server.url, 'GET', '/votes/456')
      await rawRequest(server.url, 'GET', '/nowhere/789')
      const res = await rawRequest(server.url, 'GET', '/metrics')
      expect(res.status).to.equal(200)
      expect(res.headers['content-type']).to.match(/^text\/plain/)
      expect(sample(res.text, 'stoa_http_responses_total', { route: 'GET /votes/:id', status: '200' })).to.equal(2)
      expect(sample(res.text, 'stoa_http_responses_total', { route: 'unmatched', status: '404' })).to.equal(1)
      // The path's values never become labels (a sample's value may hold the digits by chance).
      expect(res.text).not.to.match(/\{[^}\n]*(123|456|789)[^}\n]*\}/)
    } finally {
      await server.close()
      await s.close()
    }
  })

  it('does both as serveWeb before-middleware, leaving stoa routes on the node:http path', async () => {
    const s = createStoa({ name: 'gw', logger: quietLogger() })
      .use(metrics, { processMetrics: false })
      .add('role:vote,cmd:get', (m) => ({ id: m.id }))
      .use(web, { routes: { 'GET /votes/:id': 'role:vote,cmd:get' } })
    await s.ready()
    const seen: object[] = []
    const spy = (req: object, _res: unknown, next: () => void) => {
      seen.push(req)
      next()
    }
    const server = await serveWeb(s, { before: [spy, webMetrics(s, await webRoutes(s))] })
    try {
      expect((await rawRequest(server.url, 'GET', '/votes/1')).status).to.equal(200)
      expect((await rawRequest(server.url, 'POST', '/votes/1')).status).to.equal(405)
      const res = await rawRequest(server.url, 'GET', '/metrics')
      expect(res.status).to.equal(200)
      expect(sample(res.text, 'stoa_http_responses_total', { route: 'GET /votes/:id', status: '200' })).to.equal(1)
      expect(sample(res.text, 'stoa_http_responses_total', { route: 'unmatched', status: '405' })).to.equal(1)
      // express was never in the way: the request stayed node's own IncomingMessage.
      expect(Object.getPrototypeOf(seen[0])).to.equal(IncomingMessage.prototype)
    } finally {
      await server.close()
      await s.close()
    }
  })
})
