import { SpanStatusCode } from '@opentelemetry/api'
import { expect } from 'chai'
import type { Transport } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { isTraceId, parseTraceparent } from '../../../actions/trace-context.js'
import type { Envelope } from '../../../actions/transport.js'
import tracing from '../../../plugins/tracing/index.js'
import { tapTransport } from '../../fixtures/tap.js'
import { quietLogger } from '../../helpers/wait.js'
import { memoryTracing } from './otel.js'

/** A client transport that keeps what it is asked to deliver. */
function recordingClient(sent: Envelope[]): Transport {
  return {
    name: 'rec',
    client: async () => ({
      deliver: async (e: Envelope) => {
        sent.push(e)
        return { ok: true, out: undefined }
      },
    }),
    close: async () => undefined,
  }
}

describe('tracing plugin', () => {
  describe('without an OpenTelemetry SDK', () => {
    it("makes a root call's trace a W3C trace id and sends traceparent with it", async () => {
      const sent: Envelope[] = []
      const s = createStoa({ name: 'svc', logger: quietLogger() })
        .use(tracing)
        .add('role:go', async (_m, ctx) => {
          await ctx.emit('thing.happened', {})
          return ctx.trace
        })
        .client(recordingClient(sent))
      const trace = (await s.act('role:go')) as string
      expect(isTraceId(trace)).to.equal(true)
      expect(parseTraceparent(sent[0]!.meta.traceparent)?.traceId).to.equal(trace)
      await s.close()
    })

    it("keeps the trace of a call that came with a traceparent, and passes the caller's span on", async () => {
      const sent: Envelope[] = []
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
      const s = createStoa({ name: 'svc', logger: quietLogger() })
        .use(tracing)
        .add('task:svc.thing.do', async (_m, ctx) => {
          await ctx.send('other.thing.do', {})
        })
        .client(recordingClient(sent))
      const tap = tapTransport()
      await s.listen(tap).ready()
      const reply = await tap.host.dispatch({
        kind: 'send',
        name: 'svc.thing.do',
        msg: {},
        meta: { id: 'x', trace: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent: tp },
      })
      expect(reply.ok).to.equal(true)
      expect(sent[0]!.meta).to.deep.include({ trace: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent: tp })
      await s.close()
    })
  })

  it('follows an SDK registered after the service started, from the next turn of the event loop', async () => {
    const s = createStoa({ name: 'late', logger: quietLogger() })
      .use(tracing)
      .add('role:late', () => 1)
    await s.act('role:late')
    const otel = memoryTracing()
    try {
      await new Promise((r) => setImmediate(r))
      await s.act('role:late')
      const spans = otel.exporter.getFinishedSpans()
      expect(spans.map((x) => x.attributes['stoa.pattern'])).to.deep.equal([s.find('role:late')!.key])
    } finally {
      await otel.close()
      await s.close()
    }
  })

  describe('with an SDK', () => {
    let otel: ReturnType<typeof memoryTracing>
    before(() => {
      otel = memoryTracing()
    })
    after(() => otel.close())

    it('records a span per call with its pattern, service and outcome, the error code on failure', async () => {
      const s = createStoa({ name: 'math', logger: quietLogger() })
        .use(tracing)
        .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
        .add('role:math,cmd:fail', () => {
          throw new StoaError('FORBIDDEN', 'no')
        })
        .add('role:math,cmd:both', async (_m, ctx) => ctx.act('role:math,cmd:sum', { left: 1, right: 1 }))
      await s.act('role:math,cmd:both')
      await s.act('role:math,cmd:fail').catch(() => undefined)
      const spans = otel.exporter.getFinishedSpans()
      const sum = spans.find((x) => x.attributes['stoa.pattern'] === s.find('role:math,cmd:sum')!.key)!
      const both = spans.find((x) => x.attributes['stoa.pattern'] === s.find('role:math,cmd:both')!.key)!
      const fail = spans.find((x) => x.attributes['stoa.pattern'] === s.find('role:math,cmd:fail')!.key)!
      expect(sum.parentSpanContext?.spanId).to.equal(both.spanContext().spanId)
      expect(sum.attributes).to.deep.include({ 'stoa.service': 'math', 'stoa.outcome': 'ok', 'stoa.kind': 'act' })
      expect(fail.attributes['stoa.outcome']).to.equal('FORBIDDEN')
      expect(fail.status.code).to.equal(SpanStatusCode.ERROR)
      await s.close()
    })
  })
})
