import type { ConsumeMessage } from 'amqplib'
import { expect } from 'chai'
import type { Envelope } from '../../../actions/transport.js'
import { StoaError } from '../../../actions/transport.js'
import {
  deadLetterCopy,
  deadLetterInfo,
  deadLetterReason,
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  HEADERS,
  redriveCopy,
  retryCopy,
} from '../../../transports/amqp/wire.js'

/** What the broker would deliver for a published message. */
function delivered(out: { body: Buffer; props: Record<string, any> }, tag = 1): ConsumeMessage {
  return {
    content: out.body,
    fields: { deliveryTag: tag, redelivered: false, exchange: '', routingKey: 'q', consumerTag: 'c' },
    properties: { ...out.props },
  } as unknown as ConsumeMessage
}

const meta = { id: 'id-1', trace: 'tr-1', deadline: 1_000_000, token: 'a.b.c', caller: 'gateway' }

describe('amqp wire format', () => {
  it('round-trips an act with its trace, token, caller and the time it has left', () => {
    const e: Envelope = { kind: 'act', msg: { role: 'math', cmd: 'sum', left: 1 }, meta }
    const out = encodeRequest(e, 1024, 999_000)
    expect(out.props.expiration).to.equal('1000')
    expect(out.props.persistent).to.equal(undefined)
    expect(out.props.appId).to.equal('gateway')
    // The time left is the expiration: no header says it again.
    expect(out.props.headers).to.deep.equal({ [HEADERS.trace]: 'tr-1', [HEADERS.token]: 'a.b.c' })
    const back = decodeRequest(delivered(out), 'act', 1024, 999_000)
    expect(back).to.deep.equal({ ok: true, attempt: 0, envelope: { kind: 'act', msg: e.msg, meta } })
  })

  it('sends a root act with no header table, and still reads a time left sent as a header', () => {
    const root: Envelope = { kind: 'act', msg: { role: 'math' }, meta: { id: 'r', trace: 'r', deadline: 1_002_000 } }
    const out = encodeRequest(root, 1024, 1_000_000)
    expect(out.props).not.to.have.property('headers')
    const back = decodeRequest(delivered(out), 'act', 1024, 7_000_000)
    expect(back.ok && back.envelope.meta.deadline).to.equal(7_002_000)
    const older = { body: out.body, props: { ...out.props, headers: { [HEADERS.timeoutMs]: 500 } } }
    const read = decodeRequest(delivered(older), 'act', 1024, 7_000_000)
    expect(read.ok && read.envelope.meta.deadline).to.equal(7_000_500)
  })

  it("counts an act's time from its arrival by the receiver's clock, however far the sender's is off", () => {
    const receiverNow = 5_000_000
    // The sender's clock an hour behind, the same, or an hour ahead: its deadline is 1 s away by it.
    for (const skew of [-3_600_000, 0, 3_600_000]) {
      const senderNow = receiverNow + skew
      const e: Envelope = {
        kind: 'act',
        msg: { role: 'math' },
        meta: { id: 'i', trace: 'i', deadline: senderNow + 1000 },
      }
      const back = decodeRequest(delivered(encodeRequest(e, 1024, senderNow)), 'act', 1024, receiverNow)
      expect(back.ok && back.envelope.meta.deadline, `skew ${skew}`).to.equal(receiverNow + 1000)
    }
  })

  it('makes tasks persistent and mandatory, and gives each try the time the sender allowed', () => {
    const e: Envelope = { kind: 'send', name: 'tally.vote.record', msg: { voter: 'v1' }, meta }
    const out = encodeRequest(e, 1024, 990_000)
    expect(out.props.persistent).to.equal(true)
    expect(out.props.mandatory).to.equal(true)
    expect(out.props.type).to.equal('tally.vote.record')
    expect(out.props.headers[HEADERS.timeoutMs]).to.equal(10_000)
    // Received long after the deadline (queued through an outage): it still gets its 10 s.
    const back = decodeRequest(delivered(out), 'send', 1024, 5_000_000)
    expect(back.ok && back.envelope.meta.deadline).to.equal(5_010_000)
    expect(back.ok && back.envelope.name).to.equal('tally.vote.record')
  })

  it('sends the trace only when it differs from the message id', () => {
    const e: Envelope = { kind: 'emit', name: 'vote.recorded', msg: {}, meta: { id: 'same', trace: 'same' } }
    const out = encodeRequest(e, 1024)
    expect(out.props.headers).to.equal(undefined)
    const back = decodeRequest(delivered(out), 'emit', 1024)
    expect(back.ok && back.envelope.meta).to.deep.include({ id: 'same', trace: 'same' })
  })

  it('refuses a message larger than the limit with PAYLOAD_TOO_LARGE', () => {
    const e: Envelope = { kind: 'emit', name: 'vote.recorded', msg: { pad: 'x'.repeat(100) }, meta }
    expect(() => encodeRequest(e, 50))
      .to.throw(StoaError)
      .with.property('code', 'PAYLOAD_TOO_LARGE')
  })

  it('reports unparseable, non-object, foreign-type and nameless bodies as poison with a code', () => {
    const bad = (content: string, props: Record<string, unknown> = {}, kind: 'send' | 'act' = 'send') =>
      decodeRequest(delivered({ body: Buffer.from(content), props: { type: 'a.b.c', ...props } }), kind, 1024)
    const code = (r: ReturnType<typeof bad>) => (r.ok ? 'ok' : r.error.code)
    expect(code(bad('{not json'))).to.equal('INVALID_JSON')
    expect(code(bad('[1,2]'))).to.equal('INVALID_MESSAGE')
    expect(code(bad('{}', { contentType: 'text/plain' }))).to.equal('UNSUPPORTED_MEDIA_TYPE')
    expect(code(bad('{}', { type: undefined }))).to.equal('INVALID_MESSAGE')
    expect(code(bad('x'.repeat(2000)))).to.equal('PAYLOAD_TOO_LARGE')
    expect(code(bad('{}'))).to.equal('ok')
  })

  it('round-trips replies and turns a malformed one into ACTION_FAILED', () => {
    const ok = encodeReply({ ok: true, out: { n: 1 } }, 'c1')
    expect(ok.props.correlationId).to.equal('c1')
    expect(decodeReply(ok.body)).to.deep.equal({ ok: true, out: { n: 1 } })
    const err = encodeReply({ ok: false, error: { code: 'FORBIDDEN', message: 'no', details: { x: 1 } } }, 'c2')
    expect(decodeReply(err.body)).to.deep.equal({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'no', details: { x: 1 } },
    })
    expect(decodeReply(Buffer.from('nope'))).to.have.nested.property('error.code', 'ACTION_FAILED')
    expect(decodeReply(Buffer.from('{"ok":false,"error":{"code":"WHAT","message":"m"}}'))).to.have.nested.property(
      'error.code',
      'ACTION_FAILED',
    )
  })

  it('counts tries on retry copies and records the reason on dead letters, dropping the broker bookkeeping', () => {
    const original = delivered(
      encodeRequest({ kind: 'send', name: 'tally.vote.record', msg: { voter: 'v' }, meta }, 1024),
    )
    ;(original.properties.headers as Record<string, unknown>)['x-death'] = [{ queue: 'x' }]
    const retry = retryCopy(original, 2, 4000)
    expect(retry.props.headers[HEADERS.attempt]).to.equal(2)
    expect(retry.props.headers[HEADERS.delay]).to.equal('4000')
    expect(retry.props.headers['x-death']).to.equal(undefined)
    expect(retry.props.persistent).to.equal(true)
    expect(retry.props.mandatory).to.equal(true)
    expect(retry.props.type).to.equal('tally.vote.record')
    expect(retry.props.appId).to.equal('gateway')
    expect(decodeRequest(delivered(retry), 'send', 1024)).to.have.property('attempt', 2)
    const dead = deadLetterCopy(delivered(retry), { code: 'ACTION_FAILED', message: 'boom' }, 3, 'p.tasks.tally')
    expect(dead.props.headers[HEADERS.delay]).to.equal(undefined)
    expect(deadLetterReason(dead.props.headers)).to.deep.equal({
      code: 'ACTION_FAILED',
      message: 'boom',
      attempts: 3,
      queue: 'p.tasks.tally',
    })
  })

  it('a dead letter says when it died; its redrive copy is the original task with its tries reset', () => {
    const original = delivered(
      encodeRequest({ kind: 'send', name: 'tally.vote.record', msg: { voter: 'v' }, meta }, 1024),
    )
    const retried = delivered(retryCopy(original, 4, 8000))
    const dead = delivered(
      deadLetterCopy(retried, { code: 'TIMEOUT', message: 'late' }, 5, 'p.tasks.tally', 1_700_000_000_500),
    )
    expect(deadLetterInfo(dead)).to.deep.equal({
      id: 'id-1',
      code: 'TIMEOUT',
      message: 'late',
      attempts: 5,
      trace: 'tr-1',
      queue: 'p.tasks.tally',
      name: 'tally.vote.record',
      deadAt: 1_700_000_000_000,
    })
    const again = redriveCopy(dead)
    for (const h of [
      HEADERS.attempt,
      HEADERS.delay,
      HEADERS.errorCode,
      HEADERS.errorMessage,
      HEADERS.attempts,
      HEADERS.queue,
    ])
      expect(again.props.headers, h).not.to.have.property(h)
    expect(again.props.headers).to.include({ [HEADERS.trace]: 'tr-1', [HEADERS.token]: 'a.b.c' })
    expect(again.props).to.include({ messageId: 'id-1', type: 'tally.vote.record', persistent: true, mandatory: true })
    expect(again.body.equals(original.content)).to.equal(true)
    expect(decodeRequest(delivered(again), 'send', 1024)).to.have.property('attempt', 0)
  })
})

describe('amqp wire format: W3C trace context', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

  it('carries traceparent and tracestate in the headers, for tasks as for acts', () => {
    const e: Envelope = {
      kind: 'send',
      name: 'tally.vote.record',
      msg: {},
      meta: { id: 'i', trace: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent: tp, tracestate: 'v=1' },
    }
    const out = encodeRequest(e, 1024)
    expect(out.props.headers).to.deep.include({ traceparent: tp, tracestate: 'v=1' })
    const back = decodeRequest(delivered(out), 'send', 1024)
    expect(back.ok && back.envelope.meta).to.deep.include({ trace: e.meta.trace, traceparent: tp, tracestate: 'v=1' })
  })

  it("names the trace after a foreign producer's traceparent, and ignores an invalid one", () => {
    const from = (headers: Record<string, unknown>) => {
      const m = {
        content: Buffer.from('{}'),
        fields: { deliveryTag: 1 },
        properties: { headers, messageId: 'mid', type: 'vote.recorded' },
      } as unknown as ConsumeMessage
      const r = decodeRequest(m, 'emit', 1024)
      return r.ok ? r.envelope.meta : undefined
    }
    expect(from({ traceparent: Buffer.from(tp) })).to.deep.include({
      trace: '4bf92f3577b34da6a3ce929d0e0e4736',
      traceparent: tp,
    })
    expect(from({ traceparent: 'garbage' })).to.deep.equal({
      id: 'mid',
      trace: 'mid',
      deadline: undefined,
      token: undefined,
      caller: undefined,
    })
  })
})
