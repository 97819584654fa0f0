import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import bulkhead from '../../../plugins/bulkhead/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, drainQueue, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

// One try only: were an overloaded delivery handled as a failure, it would go straight to the
// dead-letter queue, which this test would see.
const RETRY = { attempts: 1, backoffMs: 20, maxBackoffMs: 40 }

describe('amqp listener: an action at its bulkhead limit', function () {
  this.timeout(30000)
  const prefix = uniquePrefix('overload')
  const started: Stoa<any>[] = []

  after(async () => {
    for (const s of started.reverse()) await s.close()
    await deleteTopology(prefix, ['tally', 'gateway'], RETRY)
  })

  it('stops taking deliveries and takes them again later, rather than failing them: every task runs once, none dead-lettered', async () => {
    const handled = new Map<number, number>()
    let running = 0
    let most = 0
    const tally = createStoa({ name: 'tally', logger: quietLogger() })
      .use(bulkhead, { retryAfterMs: 50 })
      .add(
        'task:tally.vote.record',
        async (m) => {
          running++
          most = Math.max(most, running)
          await new Promise((r) => setTimeout(r, 20))
          running--
          handled.set(Number(m.i), (handled.get(Number(m.i)) ?? 0) + 1)
        },
        { bulkhead: { concurrency: 2, queue: 0 } },
      )
      // A prefetch well above the limit: the broker hands over more than the action may run.
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, prefetch: 20, ...RETRY }))
    started.push(tally)
    await tally.ready()
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }),
    )
    started.push(gateway)
    await gateway.ready()

    const count = 40
    await Promise.all(Array.from({ length: count }, (_, i) => gateway.send('tally.vote.record', { i })))
    await waitFor(() => handled.size === count, `all ${count} tasks handled`, 20000)
    expect(most).to.be.at.most(2)
    expect([...handled.values()].every((n) => n === 1)).to.equal(true)
    const raw = await rawChannel()
    try {
      expect(await drainQueue(raw.ch, names(prefix).dlq('tally'))).to.deep.equal([])
    } finally {
      await raw.close()
    }
  })
})
