import type { ConsumeMessage } from 'amqplib'
import { expect } from 'chai'
import type { Envelope } from '../../../actions/transport.js'
import { StoaError } from '../../../actions/transport.js'
import {
  readSenecaRequest,
  senecaCodec,
  senecaNames,
  senecaReplyBody,
  senecaRequestEnvelope,
  senecaTopic,
} from '../../../transports/amqp/seneca-wire.js'

const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const replyOf = (body: Buffer) => senecaCodec('me').decode({ content: body } as ConsumeMessage)

describe("amqp seneca-amqp-transport's wire format", () => {
  it("names exchanges, queues and routing keys as seneca-amqp-transport's defaults do", () => {
    const n = senecaNames('seneca')
    expect([n.exchange, n.dlx, n.dlq]).to.deep.equal(['seneca.topic', 'seneca.dlx', 'seneca.dlq'])
    expect(n.listenQueue([{ role: 'math', cmd: '*' }])).to.equal('seneca.add.role:math.cmd:any')
    expect(senecaTopic({ role: 'math', cmd: 'sum', v: '1.2' })).to.equal('cmd.sum.role.math.v.1[:dot:]2')
  })

  it('reads a request into an envelope: Seneca keys out, trace from the id, deadline from timeout$', () => {
    const data = readSenecaRequest(
      json({ id: 'm1/t1', kind: 'act', act: { role: 'math', left: 1, timeout$: 500, tx$: 'x' } }),
    )
    const before = Date.now()
    const e = senecaRequestEnvelope(data!)
    expect(e.msg).to.deep.equal({ role: 'math', left: 1 })
    expect(e.meta).to.include({ id: 'm1/t1', trace: 't1', caller: 'seneca' })
    expect(e.meta.deadline).to.be.within(before + 500, Date.now() + 500)
    expect(readSenecaRequest(Buffer.from('not json'))).to.equal(undefined)
    expect(() => senecaRequestEnvelope({ kind: 'res' }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_MESSAGE')
  })

  it('writes replies a stoa client reads back: results, error codes, and an unwritable result as ACTION_FAILED', () => {
    const data = { id: 'm1/t1', kind: 'act', origin: 'o', track: ['o'], time: { client_sent: 1 } }
    const ok = senecaReplyBody(data, { ok: true, out: { answer: 3 } }, 'me')
    expect(JSON.parse(ok.toString())).to.deep.include({ id: 'm1/t1', kind: 'res', accept: 'me', res: { answer: 3 } })
    expect(replyOf(ok)).to.deep.equal({ ok: true, out: { answer: 3 } })
    const failed = senecaReplyBody(
      data,
      { ok: false, error: { code: 'FORBIDDEN', message: 'no', details: { need: 'admin' } } },
      'me',
    )
    const back = replyOf(failed)
    expect(back.ok).to.equal(false)
    if (!back.ok) expect(back.error).to.deep.include({ code: 'FORBIDDEN', message: 'no', details: { need: 'admin' } })
    const unwritable = replyOf(senecaReplyBody(data, { ok: true, out: { n: 1n } }, 'me'))
    expect(unwritable.ok === false && unwritable.error.code).to.equal('ACTION_FAILED')
  })

  it('writes requests with the time left as timeout$ and as the expiration', () => {
    const e: Envelope = {
      kind: 'act',
      msg: { role: 'math' },
      meta: { id: 'm1', trace: 't1', deadline: Date.now() + 800 },
    }
    const out = senecaCodec('me').encode(e, 1024, Date.now())
    const body = JSON.parse(out.body.toString()) as { id: string; act: Record<string, unknown> }
    expect(body.id).to.equal('m1/t1')
    expect(body.act.role).to.equal('math')
    expect(body.act.timeout$).to.be.within(1, 800)
    expect(out.props.expiration).to.equal(String(body.act.timeout$))
    expect(() => senecaCodec('me').encode(e, 10, Date.now()))
      .to.throw(StoaError)
      .with.property('code', 'PAYLOAD_TOO_LARGE')
  })
})
