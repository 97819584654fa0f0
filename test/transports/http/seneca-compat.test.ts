import { expect } from 'chai'
import {
  isSenecaRequest,
  senecaEnvelope,
  senecaReply,
  senecaRequestHeaders,
} from '../../../transports/http/seneca-compat.js'

describe('http seneca-compat', () => {
  it("reads Seneca's message id and transaction id, and drops its $ directives", () => {
    const headers = { 'seneca-id': 'abc123/tx456', 'seneca-origin': 'origin/1/2/3.38.0/-' }
    expect(isSenecaRequest(headers)).to.equal(true)
    expect(senecaEnvelope(headers, { role: 'math', cmd: 'sum', custom$: {}, left: 1 })).to.deep.equal({
      kind: 'act',
      msg: { role: 'math', cmd: 'sum', left: 1 },
      meta: { id: 'abc123', trace: 'tx456', caller: 'seneca' },
    })
  })

  it('writes the trace as the transaction id of the seneca-id header', () => {
    expect(senecaRequestHeaders({ id: 'm', trace: 't' })).to.deep.equal({ 'seneca-id': 'm/t' })
  })

  it("maps a Seneca listener's errors to stoa codes without Seneca's message", () => {
    const wrapped = {
      code: 'act_execute',
      orig: { code: 'FORBIDDEN', details: { a: 1 } },
      details: { message: 'no way', errmsg: 'no way' },
      message: 'seneca: Action cmd:x failed: no way.',
    }
    expect(senecaReply(500, JSON.stringify(wrapped))).to.deep.equal({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'no way', details: { a: 1 } },
    })
    expect(senecaReply(500, '{"code":"act_not_found","message":"seneca: No matching action"}')).to.have.nested.property(
      'error.code',
      'NOT_FOUND',
    )
    const failed = senecaReply(500, '{"code":"act_execute","orig":{},"message":"seneca: failed: secret"}')
    expect(failed).to.deep.equal({
      ok: false,
      error: { code: 'ACTION_FAILED', message: 'the Seneca action failed', details: { seneca: 'act_execute' } },
    })
    expect(senecaReply(503, '{ "code": "ETIMEDOUT" }')).to.have.nested.property('error.code', 'TIMEOUT')
    expect(senecaReply(200, 'null')).to.deep.equal({ ok: true, out: undefined })
  })
})
