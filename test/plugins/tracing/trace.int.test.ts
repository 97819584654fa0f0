import { SpanKind } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import tracing from '../../../plugins/tracing/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import { memoryTracing } from './otel.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN = '00f067aa0ba902b7'

describe('tracing: one trace across HTTP, an AMQP task and a nested act', function () {
  this.timeout(20000)
  const prefix = uniquePrefix('trace')
  let otel: ReturnType<typeof memoryTracing>
  let gateway: Stoa<any>
  let tally: Stoa<any>
  let server: WebServer
  const seen: { trace: string; nested: string }[] = []

  before(async () => {
    otel = memoryTracing()
    tally = createStoa({ name: 'tally', logger: quietLogger() })
      .use(tracing)
      .add('role:tally,cmd:count', (_m, ctx) => ({ trace: ctx.trace }))
      .add('task:tally.vote.record', async (_m, ctx) => {
        const out = (await ctx.act('role:tally,cmd:count')) as { trace: string }
        seen.push({ trace: ctx.trace, nested: out.trace })
      })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix }))
    gateway = createStoa({ name: 'gateway', logger: quietLogger() })
      .use(tracing)
      .add('role:vote,cmd:cast', async (msg, ctx) => {
        await ctx.send('tally.vote.record', { voter: msg.voter })
        return { accepted: true, trace: ctx.trace }
      })
      .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' } })
      .client(createAmqpTransport({ url: AMQP_URL, prefix }))
    await tally.ready()
    await gateway.ready()
    server = await serveWeb(gateway)
  })

  after(async () => {
    await server?.close()
    await gateway?.close()
    await tally?.close()
    await otel?.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
  })

  it('links the web act, the task sent, the task handled and the nested act as parent and child', async () => {
    const res = await rawRequest(server.url, 'POST', '/votes', {
      body: JSON.stringify({ voter: 'v1' }),
      headers: {
        'content-type': 'application/json',
        traceparent: `00-${TRACE}-${CALLER_SPAN}-01`,
        tracestate: 'vendor=abc',
      },
    })
    expect(res.status).to.equal(200)
    expect(res.json.trace).to.equal(TRACE)
    await waitFor(() => seen.length === 1 && otel.exporter.getFinishedSpans().length >= 4, 'the task and its spans')
    expect(seen[0]).to.deep.equal({ trace: TRACE, nested: TRACE })

    const spans = otel.exporter.getFinishedSpans()
    const byName = (name: string): ReadableSpan => {
      const s = spans.find((x) => x.name === name)
      expect(s, `span ${name} among ${spans.map((x) => x.name).join(', ')}`).not.to.equal(undefined)
      return s!
    }
    const act = spans.find((s) => s.attributes['stoa.pattern'] === gateway.find('role:vote,cmd:cast')!.key)!
    const send = byName('send tally.vote.record')
    const handled = byName('process tally.vote.record')
    const nested = spans.find((s) => s.attributes['stoa.pattern'] === tally.find('role:tally,cmd:count')!.key)!
    for (const s of [act, send, handled, nested]) expect(s.spanContext().traceId).to.equal(TRACE)
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
    expect(parentOf(act)).to.equal(CALLER_SPAN)
    expect(parentOf(send)).to.equal(act.spanContext().spanId)
    expect(parentOf(handled)).to.equal(send.spanContext().spanId)
    expect(parentOf(nested)).to.equal(handled.spanContext().spanId)
    expect([act.kind, send.kind, handled.kind, nested.kind]).to.deep.equal([
      SpanKind.SERVER,
      SpanKind.PRODUCER,
      SpanKind.CONSUMER,
      SpanKind.INTERNAL,
    ])
    expect(handled.attributes).to.deep.include({ 'stoa.kind': 'task', 'stoa.service': 'tally', 'stoa.outcome': 'ok' })
    expect(send.attributes).to.deep.include({
      'stoa.transport': 'amqp',
      'stoa.service': 'gateway',
      'stoa.outcome': 'ok',
    })
    expect(act.spanContext().traceState?.serialize()).to.equal('vendor=abc')
  })
})
