import { SpanKind } from '@opentelemetry/api'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import tracing from '../../../plugins/tracing/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { quietLogger } from '../../helpers/wait.js'
import { memoryTracing } from './otel.js'

describe('tracing over the HTTP transport', () => {
  let otel: ReturnType<typeof memoryTracing>
  let math: Stoa<any>
  let gateway: Stoa<any>

  before(async () => {
    otel = memoryTracing()
    const listener = createHttpTransport()
    math = createStoa({ name: 'math', logger: quietLogger() })
      .use(tracing)
      .add('role:math,cmd:sum', (m, ctx) => ({ answer: Number(m.left) + Number(m.right), trace: ctx.trace }))
      .listen(listener)
    await math.ready()
    gateway = createStoa({ name: 'gateway', logger: quietLogger() })
      .use(tracing)
      .add('role:gw,cmd:add', async (_m, ctx) => ({
        inner: await ctx.act('role:math,cmd:sum', { left: 1, right: 2 }),
        trace: ctx.trace,
      }))
      .client(createHttpTransport({ url: listener.address()! }), ['role:math'])
    await gateway.ready()
  })

  after(async () => {
    await gateway?.close()
    await math?.close()
    await otel?.close()
  })

  it('sends traceparent from the client span, and the listener continues that trace under it', async () => {
    const out = (await gateway.act('role:gw,cmd:add')) as { trace: string; inner: { trace: string } }
    expect(out.trace).to.match(/^[0-9a-f]{32}$/)
    expect(out.inner.trace).to.equal(out.trace)
    const spans = otel.exporter.getFinishedSpans()
    const root = spans.find((s) => s.attributes['stoa.pattern'] === gateway.find('role:gw,cmd:add')!.key)!
    const client = spans.find((s) => s.name === 'act http')!
    const server = spans.find(
      (s) => s.attributes['stoa.pattern'] === math.find('role:math,cmd:sum')!.key && s.kind === SpanKind.SERVER,
    )!
    expect(root.spanContext().traceId).to.equal(out.trace)
    expect(client.parentSpanContext?.spanId).to.equal(root.spanContext().spanId)
    expect(client.kind).to.equal(SpanKind.CLIENT)
    expect(server.parentSpanContext?.spanId).to.equal(client.spanContext().spanId)
    expect(server.spanContext().traceId).to.equal(out.trace)
    expect(server.attributes).to.deep.include({ 'stoa.service': 'math', 'stoa.outcome': 'ok' })
  })
})
