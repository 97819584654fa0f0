import { expect } from 'chai'
import type { Envelope } from '../../../actions/transport.js'
import { StoaError } from '../../../actions/transport.js'
import { envelopeOf, errorResponse, replyOf, replyResponse, requestHeaders } from '../../../transports/http/wire.js'

/** Outgoing headers as a listener receives them. */
function received(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]))
}

describe('http wire', () => {
  const e: Envelope = {
    kind: 'send',
    name: 'tally.vote.record',
    msg: { voter: 'v1' },
    meta: { id: 'm1', trace: 't1', deadline: 1_900_000_000_000, token: 'a.b.c', caller: 'gateway' },
  }

  it('round-trips an envelope through request headers', () => {
    const now = 1_899_999_995_000
    const headers = requestHeaders(e, 10, now)
    expect(envelopeOf(received(headers), e.msg, now)).to.deep.equal(e)
  })

  it('sends the time left as x-stoa-timeout-ms and no absolute deadline', () => {
    const headers = requestHeaders(e, 10, 1_899_999_997_500)
    expect(headers['x-stoa-timeout-ms']).to.equal('2500')
    expect(headers).not.to.have.property('x-stoa-deadline')
    // Rounded up: a fraction of a millisecond left is still time, never below 0.
    expect(requestHeaders({ ...e, meta: { ...e.meta, deadline: 1000.25 } }, 10, 1000)['x-stoa-timeout-ms']).to.equal(
      '1',
    )
    expect(requestHeaders(e, 10, 1_900_000_000_007)['x-stoa-timeout-ms']).to.equal('0')
    expect(requestHeaders({ ...e, meta: { id: 'm', trace: 't' } }, 10)).not.to.have.property('x-stoa-timeout-ms')
  })

  it("sets the deadline by the listener's clock, however far the caller's clock is off", () => {
    const listenerNow = 1_700_000_000_000
    for (const skew of [-3_600_000, 0, 3_600_000]) {
      const callerNow = listenerNow + skew
      const sent = requestHeaders({ ...e, meta: { ...e.meta, deadline: callerNow + 4000 } }, 10, callerNow)
      expect(envelopeOf(received(sent), e.msg, listenerNow).meta.deadline, `skew ${skew}`).to.equal(listenerNow + 4000)
    }
  })

  it('reads a budget of 0 as a deadline of now, and ignores an absolute x-stoa-deadline', () => {
    expect(envelopeOf({ 'x-stoa-timeout-ms': '0' }, {}, 5000).meta.deadline).to.equal(5000)
    expect(envelopeOf({ 'x-stoa-deadline': '1', 'x-stoa-timeout-ms': '250' }, {}, 5000).meta.deadline).to.equal(5250)
    expect(envelopeOf({ 'x-stoa-deadline': '1' }, {}, 5000).meta).not.to.have.property('deadline')
  })

  it('refuses a budget that is not a whole number of ms from 0 to 2^53-1', () => {
    expect(envelopeOf({ 'x-stoa-timeout-ms': String(Number.MAX_SAFE_INTEGER) }, {}, 0).meta.deadline).to.equal(
      Number.MAX_SAFE_INTEGER,
    )
    for (const value of [
      '-5',
      '-0',
      '1.5',
      '',
      ' 5',
      '5 ',
      '1e3',
      '0x10',
      '+5',
      'soon',
      '5, 6',
      'Infinity',
      String(Number.MAX_SAFE_INTEGER + 1),
      '1'.repeat(17),
    ]) {
      expect(() => envelopeOf({ 'x-stoa-timeout-ms': value }, {}), JSON.stringify(value))
        .to.throw(StoaError, /x-stoa-timeout-ms/)
        .that.deep.includes({ code: 'INVALID_MESSAGE', details: { header: 'x-stoa-timeout-ms' } })
    }
  })

  it('leaves kind and name out for an act, and reads them back as an act', () => {
    const act: Envelope = { kind: 'act', msg: {}, meta: { id: 'm', trace: 't' } }
    const headers = requestHeaders(act, 2)
    expect(headers).not.to.have.property('x-stoa-kind')
    expect(envelopeOf(received(headers), {}).kind).to.equal('act')
  })

  it('refuses malformed headers with INVALID_MESSAGE naming the header', () => {
    for (const [header, value] of [
      ['x-stoa-timeout-ms', '-5'],
      ['x-stoa-trace', 'has spaces in it'],
      ['x-stoa-id', 'x'.repeat(201)],
    ] as const) {
      expect(() => envelopeOf({ [header]: value }, {}), header)
        .to.throw(StoaError)
        .with.property('details')
        .that.deep.equals({ header })
    }
    expect(() => envelopeOf({ 'x-stoa-kind': 'send' }, {})).to.throw(/x-stoa-name/)
  })

  it('answers 200 with the result for an act and 202 without a body for a task or an event', () => {
    expect(replyResponse({ ...e, kind: 'act' }, { ok: true, out: { a: 1 } })).to.include({
      status: 200,
      body: '{"a":1}',
    })
    expect(replyResponse(e, { ok: true, out: undefined })).to.include({ status: 202, body: '' })
    expect(replyResponse(e, { ok: false, error: { code: 'CLOSED', message: 'closed' } })).to.include({ status: 503 })
  })

  it('reads answers back, turning foreign error bodies into known codes', () => {
    expect(replyOf(200, '')).to.deep.equal({ ok: true, out: undefined })
    expect(replyOf(200, '[1]')).to.deep.equal({ ok: true, out: [1] })
    expect(replyOf(403, '{"code":"FORBIDDEN","message":"no","details":{"a":1}}')).to.deep.equal({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'no', details: { a: 1 } },
    })
    expect(replyOf(502, '<html>')).to.have.nested.property('error.code', 'UNAVAILABLE')
    expect(replyOf(500, '{"code":"EWHATEVER","message":"x"}')).to.have.nested.property('error.code', 'ACTION_FAILED')
    expect(replyOf(200, '{oops')).to.have.nested.property('error.code', 'ACTION_FAILED')
  })

  it('answers 401 with WWW-Authenticate: Bearer, and no other error with it', () => {
    const out = errorResponse({
      code: 'UNAUTHENTICATED',
      message: 'this action needs a token',
      details: { reason: 'missing' },
    })
    expect(out.status).to.equal(401)
    expect(out.headers['www-authenticate']).to.equal('Bearer')
    expect(errorResponse({ code: 'FORBIDDEN', message: 'no' }).headers['www-authenticate']).to.equal(undefined)
  })
})

describe('http wire: W3C trace context', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

  it('emits traceparent and tracestate from the envelope meta, and reads them back', () => {
    const e: Envelope = {
      kind: 'act',
      msg: {},
      meta: { id: 'm', trace: '4bf92f3577b34da6a3ce929d0e0e4736', traceparent: tp, tracestate: 'v=1' },
    }
    const headers = requestHeaders(e, 2)
    expect(headers).to.deep.include({ traceparent: tp, tracestate: 'v=1' })
    expect(envelopeOf(received(headers), {}).meta).to.deep.include({
      trace: e.meta.trace,
      traceparent: tp,
      tracestate: 'v=1',
    })
  })

  it("takes a plain client's traceparent as the trace, and ignores an invalid one", () => {
    expect(envelopeOf({ traceparent: tp }, {}).meta.trace).to.equal('4bf92f3577b34da6a3ce929d0e0e4736')
    const bad = envelopeOf({ 'x-stoa-id': 'm1', traceparent: '00-zz-00f067aa0ba902b7-01', tracestate: 'v=1' }, {}).meta
    expect(bad).to.deep.include({ trace: 'm1' })
    expect(bad).not.to.have.property('traceparent')
    expect(bad).not.to.have.property('tracestate')
  })
})
