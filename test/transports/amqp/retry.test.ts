import { expect } from 'chai'
import { decide } from '../../../transports/amqp/retry.js'
import { backoffDelays } from '../../../transports/amqp/topology.js'

const policy = { attempts: 4, delays: backoffDelays(4, 100, 250) }

describe('amqp retry policy', () => {
  it('doubles the delay per try up to the ceiling', () => {
    expect(backoffDelays(5, 100, 250)).to.deep.equal([100, 200, 250, 250])
    expect(backoffDelays(1, 100, 250)).to.deep.equal([])
  })

  it('acknowledges success', () => {
    expect(decide(undefined, 0, policy)).to.deep.equal({ do: 'ack' })
  })

  it('retries a retryable failure with growing delays, then dead-letters with the try count', () => {
    const failed = { code: 'ACTION_FAILED' as const, message: 'boom' }
    expect(decide(failed, 0, policy)).to.deep.equal({ do: 'retry', attempt: 1, delayMs: 100 })
    expect(decide(failed, 1, policy)).to.deep.equal({ do: 'retry', attempt: 2, delayMs: 200 })
    expect(decide(failed, 2, policy)).to.deep.equal({ do: 'retry', attempt: 3, delayMs: 250 })
    expect(decide(failed, 3, policy)).to.deep.equal({ do: 'dead-letter', error: failed, attempts: 4 })
  })

  it('dead-letters poison at once: no handler, invalid message, bad JSON', () => {
    for (const code of ['NOT_FOUND', 'INVALID_MESSAGE', 'INVALID_JSON', 'INVALID_NAME'] as const) {
      expect(decide({ code, message: 'm' }, 0, policy)).to.deep.include({ do: 'dead-letter', attempts: 1 })
    }
  })

  it('requeues work refused by a closing instance without counting a try, but retries an action that failed with CLOSED', () => {
    const closed = { code: 'CLOSED' as const, message: 'm' }
    expect(decide(closed, 3, policy, true)).to.deep.equal({ do: 'requeue' })
    expect(decide(closed, 0, policy)).to.deep.include({ do: 'retry' })
  })
})
