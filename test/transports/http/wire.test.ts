import { expect } from 'chai'
import type { Envelope } from '../../../actions/index.js'
import { StoaError } from '../../../actions/index.js'
import { envelopeOf, replyOf, replyResponse, requestHeaders } from '../../../transports/http/wire.js'

describe('http wire', () => {
  const e: Envelope = {
    kind: 'send',
    name: 'tally.vote.record',
    msg: { voter: 'v1' },
    meta: { id: 'm1', trace: 't1', deadline: 1_900_000_000_000, token: 'a.b.c', caller: 'gateway' },
  }

  it('round-trips an envelope through request headers', () => {
    const headers = requestHeaders(e, 10)
    const incoming = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]))
    expect(envelopeOf(incoming, e.msg)).to.deep.equal(e)
  })

  it('leaves kind and name out for an act, and reads them back as an act', () => {
    const act: Envelope = { kind: 'act', msg: {}, meta: { id: 'm', trace: 't' } }
    const headers = requestHeaders(act, 2)
    expect(headers).not.to.have.property('x-stoa-kind')
    expect(envelopeOf(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])), {}).kind).to.equal('act')
  })

  it('refuses malformed headers with INVALID_MESSAGE naming the header', () => {
    for (const [header, value] of [
      ['x-stoa-deadline', '-5'],
      ['x-stoa-trace', 'has spaces in it'],
      ['x-stoa-id', 'x'.repeat(201)],
    ] as const) {
      expect(() => envelopeOf({ [header]: value }, {}), header).to.throw(StoaError).with.property('details').that.deep.equals({ header })
    }
    expect(() => envelopeOf({ 'x-stoa-kind': 'send' }, {})).to.throw(/x-stoa-name/)
  })

  it('answers 200 with the result for an act and 202 without a body for a task or an event', () => {
    expect(replyResponse({ ...e, kind: 'act' }, { ok: true, out: { a: 1 } })).to.include({ status: 200, body: '{"a":1}' })
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
})
