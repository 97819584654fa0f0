import { expect } from 'chai'
import { backoffDelays, bulkheadRefusal, decideRetry } from '../../actions/transport.js'

const policy = { attempts: 4, delays: backoffDelays(4, 100, 250) }

describe('retry rule of the broker transports', () => {
  it('doubles the delay per try up to the ceiling', () => {
    expect(backoffDelays(5, 100, 250)).to.deep.equal([100, 200, 250, 250])
    expect(backoffDelays(1, 100, 250)).to.deep.equal([])
  })

  it('acknowledges success', () => {
    expect(decideRetry(undefined, 1, policy)).to.deep.equal({ do: 'ack' })
  })

  it('retries a retryable failure with growing delays, then dead-letters with the try count', () => {
    const failed = { code: 'ACTION_FAILED' as const, message: 'boom' }
    expect(decideRetry(failed, 1, policy)).to.deep.equal({ do: 'retry', attempt: 1, delayMs: 100 })
    expect(decideRetry(failed, 2, policy)).to.deep.equal({ do: 'retry', attempt: 2, delayMs: 200 })
    expect(decideRetry(failed, 3, policy)).to.deep.equal({ do: 'retry', attempt: 3, delayMs: 250 })
    expect(decideRetry(failed, 4, policy)).to.deep.equal({ do: 'dead-letter', error: failed, attempts: 4 })
    // A count past the limit (a try cut short by a crash counted too) still ends in the dead letters.
    expect(decideRetry(failed, 9, policy)).to.deep.equal({ do: 'dead-letter', error: failed, attempts: 9 })
  })

  it('dead-letters poison at once: no handler, invalid message, bad JSON, a code the table does not know', () => {
    for (const code of ['NOT_FOUND', 'INVALID_MESSAGE', 'INVALID_JSON', 'INVALID_NAME', 'NO_SUCH_CODE'] as const) {
      expect(decideRetry({ code: code as 'NOT_FOUND', message: 'm' }, 1, policy)).to.deep.include({
        do: 'dead-letter',
        attempts: 1,
      })
    }
  })

  it('requeues work refused by a closing instance without counting a try, but retries an action that failed with CLOSED', () => {
    const closed = { code: 'CLOSED' as const, message: 'm' }
    expect(decideRetry(closed, 4, policy, true)).to.deep.equal({ do: 'requeue' })
    expect(decideRetry(closed, 1, policy)).to.deep.include({ do: 'retry' })
  })

  it('tells a bulkhead refusal from an action that answered OVERLOADED itself', () => {
    const refusal = { code: 'OVERLOADED' as const, message: 'full', details: { bulkhead: 'db', retryAfterMs: 50 } }
    expect(bulkheadRefusal({ ok: false, error: refusal })).to.equal(refusal)
    expect(bulkheadRefusal({ ok: false, error: { code: 'OVERLOADED', message: 'busy' } })).to.equal(undefined)
    expect(bulkheadRefusal({ ok: true, out: 1 })).to.equal(undefined)
  })
})
