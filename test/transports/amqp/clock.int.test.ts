import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import bulkhead from '../../../plugins/bulkhead/index.js'
import { VirtualClock } from '../../../plugins/testing/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const RETRY = { attempts: 1, backoffMs: 1000, maxBackoffMs: 1000 }

/*
 * An AMQP listener on an instance with a virtual clock (stoa/testing) counts what is stoa's on
 * that clock: the deadline a delivery gets (now plus the time its sender allowed) and how long
 * it holds back after a bulkhead refusal. RabbitMQ's own timers (a delay queue's TTL, which
 * paces a retry, and a request's expiration) run on the broker's time and cannot follow it.
 */
describe('amqp transport on the virtual clock: deadlines and hold-backs follow the instance clock', function () {
  this.timeout(30_000)
  const prefix = `t30-clock-${randomBytes(4).toString('hex')}`
  const started: Stoa<any>[] = []

  after(async () => {
    for (const s of started.reverse()) await s.close()
    await deleteTopology(prefix, ['tally', 'ledger', 'gateway'], RETRY)
  })

  /** A sender on the machine's clock, as a gateway in another process is. */
  async function gateway(): Promise<Stoa<any>> {
    const g = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }),
    )
    started.push(g)
    return g.ready()
  }

  it('gives a task the time its sender allowed, counted from the virtual now', async () => {
    const clock = new VirtualClock()
    const left: number[] = []
    const tally = createStoa({ name: 'tally', clock, logger: quietLogger() })
      .add('task:tally.vote.record', (_m, ctx) => void left.push(ctx.remainingMs))
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }))
    started.push(tally)
    await tally.ready()
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'ada' }, { timeoutMs: 45_000 })
    await waitFor(() => left.length === 1, 'the task to run')
    // The sender counted the time left when it wrote the task; the clock here has not moved since.
    expect(left).to.have.length(1)
    expect(left[0]).to.be.within(40_000, 45_000)
  })

  it('holds back after a bulkhead refusal until the virtual clock passes retryAfterMs', async () => {
    const clock = new VirtualClock()
    const ran: string[] = []
    let release!: () => void
    const first = new Promise<void>((r) => (release = r))
    const ledger = createStoa({ name: 'ledger', clock, logger: quietLogger() })
      .use(bulkhead, { retryAfterMs: 20_000 })
      .add(
        'task:ledger.entry.post',
        async (m) => {
          ran.push(String(m.n))
          if (m.n === 1) await first
        },
        { bulkhead: { concurrency: 1, queue: 0 } },
      )
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }))
    started.push(ledger)
    await ledger.ready()
    const g = await gateway()
    await g.send('ledger.entry.post', { n: 1 })
    await waitFor(() => ran.length === 1, 'the first task to start')
    await g.send('ledger.entry.post', { n: 2 })
    // The second is refused (the first holds the one turn) and goes back to the queue; the
    // listener stops consuming for 20 s of the instance's clock.
    const raw = await rawChannel()
    try {
      const queue = names(prefix).tasks('ledger')
      let seen = { messageCount: -1, consumerCount: -1 }
      for (const until = Date.now() + 10_000; Date.now() < until; await settle(20)) {
        seen = await raw.ch.checkQueue(queue)
        if (seen.messageCount === 1 && seen.consumerCount === 0) break
      }
      expect(seen, 'the refused task queued, nobody consuming').to.include({ messageCount: 1, consumerCount: 0 })
      release()
      await settle(300)
      expect(ran, 'held back').to.deep.equal(['1'])
      expect((await raw.ch.checkQueue(queue)).consumerCount).to.equal(0)
    } finally {
      await raw.close()
    }
    await clock.advance('20s')
    await waitFor(() => ran.length === 2, 'the second task, once the hold is over')
    expect(ran).to.deep.equal(['1', '2'])
  })
})
