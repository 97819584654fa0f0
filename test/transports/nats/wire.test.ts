import { headers } from '@nats-io/transport-node'
import { expect } from 'chai'
import type { Envelope } from '../../../actions/transport.js'
import { eventFilter, names } from '../../../transports/nats/topology.js'
import {
  deadLetterHeaders,
  deadLetterReason,
  decodeReply,
  decodeRequest,
  encodeAct,
  encodeReply,
  encodeRequest,
  HEADERS,
} from '../../../transports/nats/wire.js'

const n = names('stoa')

describe('nats wire', () => {
  const act: Envelope = {
    kind: 'act',
    msg: { role: 'math', cmd: 'sum', left: 1 },
    meta: {
      id: 'id-1',
      trace: 'trace-1',
      token: 'tok',
      caller: 'gateway',
      deadline: 10_500,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'a=1',
    },
  }
  const arrived = { ...act, meta: { ...act.meta, deadline: 20_500 } }

  it('carries id, trace, token, caller, trace context and the time left in the body of an act, and reads them back', () => {
    const body = encodeAct(act, 1024, 10_000)
    const sent = JSON.parse(Buffer.from(body).toString())
    expect(sent).to.deep.include({ msg: act.msg })
    expect(sent.stoa).to.deep.include({ v: 1, id: 'id-1', timeoutMs: 500, caller: 'gateway' })
    const back = decodeRequest({ subject: 'stoa.rpc.math', data: body }, 'act', '', 1024, 20_000)
    expect(back).to.deep.equal({ ok: true, envelope: arrived })
  })

  it("still reads an older sender's act, whose headers carry what the body now does", () => {
    const h = headers()
    h.set(HEADERS.id, 'id-1')
    h.set(HEADERS.trace, 'trace-1')
    h.set(HEADERS.token, 'tok')
    h.set(HEADERS.caller, 'gateway')
    h.set(HEADERS.traceparent, act.meta.traceparent!)
    h.set(HEADERS.tracestate, 'a=1')
    h.set(HEADERS.timeoutMs, '500')
    const data = Buffer.from(JSON.stringify(act.msg))
    const back = decodeRequest({ subject: 'stoa.rpc.math', data, headers: h }, 'act', '', 1024, 20_000)
    expect(back).to.deep.equal({ ok: true, envelope: arrived })
  })

  it('takes the trace of an act from its traceparent when no trace is given, and ignores an invalid one', () => {
    const root = { ...act, meta: { id: 'id-2', trace: 'id-2', traceparent: act.meta.traceparent } }
    const back = decodeRequest({ subject: 's', data: encodeAct(root, 1024) }, 'act', '', 1024)
    expect(back.ok && back.envelope.meta.trace).to.equal('0af7651916cd43dd8448eb211c80319c')
    const odd = { ...act, meta: { id: 'id-3', trace: 'id-3', traceparent: 'nonsense' } }
    const again = decodeRequest({ subject: 's', data: encodeAct(odd, 1024) }, 'act', '', 1024)
    expect(again.ok && [again.envelope.meta.trace, again.envelope.meta.traceparent]).to.deep.equal(['id-3', undefined])
  })

  it('refuses an act body it cannot read with INVALID_MESSAGE, naming the field', () => {
    const bad = (body: unknown) => {
      const r = decodeRequest({ subject: 's', data: Buffer.from(JSON.stringify(body)) }, 'act', '', 1024)
      return r.ok ? 'ok' : `${r.error.code}: ${r.error.message}`
    }
    expect(bad({ stoa: { v: 2, id: 'i' }, msg: {} })).to.equal('INVALID_MESSAGE: stoa.v must be 1')
    expect(bad({ stoa: { v: 1 }, msg: {} })).to.equal('INVALID_MESSAGE: stoa.id must be a string')
    expect(bad({ stoa: { v: 1, id: 'i' }, msg: [1] })).to.equal('INVALID_MESSAGE: msg must be a JSON object')
    expect(bad({ stoa: { v: 1, id: 'i', timeoutMs: 'soon', caller: 7 } })).to.equal('ok')
  })

  it("gives tasks JetStream's message id and takes their name from the subject", () => {
    const e: Envelope = {
      kind: 'send',
      name: 'tally.vote.record',
      msg: { voter: 'v1' },
      meta: { id: 'm1', trace: 'm1' },
    }
    const out = encodeRequest(e, 1024, headers())
    expect(out.headers.get(HEADERS.msgId)).to.equal('m1')
    expect(out.headers.has(HEADERS.trace)).to.equal(false)
    const back = decodeRequest(
      { subject: n.taskSubject('tally.vote.record'), data: out.body, headers: out.headers },
      'send',
      n.taskBase,
      1024,
    )
    expect(back.ok && back.envelope.name).to.equal('tally.vote.record')
    expect(back.ok && back.envelope.meta).to.deep.include({ id: 'm1', trace: 'm1' })
  })

  it('refuses what cannot be run, with the codes a dead letter keeps', () => {
    const bad = (data: string, max = 1024) =>
      decodeRequest({ subject: 'stoa.tasks.a.b.c', data: Buffer.from(data) }, 'send', n.taskBase, max)
    expect(bad('{nope')).to.deep.include({ ok: false })
    expect((bad('{nope') as { error: { code: string } }).error.code).to.equal('INVALID_JSON')
    expect((bad('[1]') as { error: { code: string } }).error.code).to.equal('INVALID_MESSAGE')
    expect((bad('{"a":1}', 3) as { error: { code: string } }).error.code).to.equal('PAYLOAD_TOO_LARGE')
    expect(() => encodeAct({ kind: 'act', msg: { big: 'x'.repeat(50) }, meta: { id: 'i', trace: 'i' } }, 10)).to.throw(
      /limit is 10/,
    )
    expect(() =>
      encodeRequest(
        { kind: 'send', name: 'a.b.c', msg: { big: 'x'.repeat(50) }, meta: { id: 'i', trace: 'i' } },
        10,
        headers(),
      ),
    ).to.throw(/limit is 10/)
  })

  it('round-trips replies; a malformed one becomes ACTION_FAILED', () => {
    expect(decodeReply(encodeReply({ ok: true, out: { a: [1] } }))).to.deep.equal({ ok: true, out: { a: [1] } })
    const err = decodeReply(encodeReply({ ok: false, error: { code: 'TIMEOUT', message: 'late' } }))
    expect(err).to.deep.include({ ok: false })
    expect((err as { error: { code: string } }).error.code).to.equal('TIMEOUT')
    expect((decodeReply(Buffer.from('<html>')) as { error: { code: string } }).error.code).to.equal('ACTION_FAILED')
  })

  it('writes why a dead letter was given up, keeping the original headers but its message id', () => {
    const h = headers()
    h.set(HEADERS.msgId, 'm1')
    h.set(HEADERS.token, 'tok')
    const dl = deadLetterHeaders(
      { subject: 'stoa.tasks.tally.vote.record', data: Buffer.from('{}'), headers: h },
      { code: 'TIMEOUT', message: 'too\nslow' },
      3,
      headers(),
    )
    expect(dl.has(HEADERS.msgId)).to.equal(false)
    expect(dl.get(HEADERS.id)).to.equal('m1')
    expect(dl.get(HEADERS.token)).to.equal('tok')
    expect(deadLetterReason(dl)).to.deep.equal({
      code: 'TIMEOUT',
      message: 'too slow',
      attempts: 3,
      subject: 'stoa.tasks.tally.vote.record',
    })
  })
})

describe('nats topology: event filters', () => {
  it('filters on one subject when the subscriptions share one, else on every event', () => {
    expect(eventFilter(n, ['vote.recorded'])).to.equal('stoa.events.vote.recorded')
    expect(eventFilter(n, ['user.auth*'])).to.equal('stoa.events.user.*')
    expect(eventFilter(n, ['vote.*', 'vote.recorded'])).to.equal('stoa.events.vote.*')
    expect(eventFilter(n, ['vote.recorded', 'user.created'])).to.equal('stoa.events.>')
  })
})
