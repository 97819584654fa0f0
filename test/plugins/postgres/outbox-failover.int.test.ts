import { expect } from 'chai'
import type { Context, Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import postgres from '../../../plugins/postgres/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import type { TcpProxy } from '../../transports/amqp/tcp-proxy.js'
import { startTcpProxy } from '../../transports/amqp/tcp-proxy.js'

/**
 * The outbox's answer to a lost confirm. The relay's instance reaches the broker through two
 * addresses, two TCP proxies standing for two nodes of a cluster (the broker itself is never
 * touched). A committed task is published through the first; the broker takes it, but its
 * confirm is held on the way back, and then that "node" goes away: the publish fails
 * `UNAVAILABLE` (it may or may not be queued, and here it was), the row stays in the outbox, and
 * once the transport is on the second address the relay publishes it again, under the same
 * message id, so the worker's inbox can tell the copy. A task never lost, never a false success.
 */
describe('postgres outbox over amqp: a publish whose confirm was lost in a node switch', function () {
  this.timeout(30_000)
  const prefix = uniquePrefix('outbox')
  const started: Stoa<any>[] = []
  const proxies: TcpProxy[] = []
  let db: TestDatabase

  before(async () => {
    db = await createTestDatabase('outbox')
  })
  after(async () => {
    for (const s of started.reverse()) await s.close()
    for (const p of proxies) await p.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
    await db.drop()
  })

  it('fails UNAVAILABLE, stays in the outbox and is published again, same id, through the other node', async () => {
    const broker = new URL(AMQP_URL)
    const a = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
    const b = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
    proxies.push(a, b)
    const via = (p: TcpProxy) => {
      const u = new URL(AMQP_URL)
      u.host = p.address
      return u.href
    }
    const amqp = { prefix, reconnectMinMs: 20, reconnectMaxMs: 100 }

    // The worker is on the broker directly: it sees what reached the broker, whatever the proxies do.
    const deliveries: string[] = []
    const worker = createStoa({ name: 'tally', logger: quietLogger() }).add(
      'task:tally.vote.record',
      (_m: unknown, ctx: Context) => void deliveries.push(ctx.id),
    )
    worker.listen(createAmqpTransport({ url: AMQP_URL, ...amqp }))
    started.push(worker)
    await worker.ready()

    const logger = quietLogger()
    const gateway = createStoa({ name: 'gateway', logger })
      .use(postgres, { url: db.url, relay: { sweepMs: 100, maxBackoffMs: 200 } })
      .client(createAmqpTransport({ url: [via(a), via(b)], ...amqp, publishWaitMs: 10_000 }))
    started.push(gateway)
    await gateway.ready()
    const pg = gateway.handleOf(postgres)
    const send = (id: string) =>
      pg.transaction(undefined, async (tx) => {
        await tx.send('tally.vote.record', { voteId: id }, { id })
      })

    // A first task through a, confirmed: the row leaves the outbox.
    await send('vote-1')
    await waitFor(() => deliveries.includes('vote-1'), 'the first task')
    await waitFor(() => pg.relay.published === 1, 'the first confirm')
    expect(a.accepted).to.equal(1)

    // The second reaches the broker through a, its confirm does not come back; a then goes away.
    a.blackhole('replies')
    await send('vote-2')
    await waitFor(() => deliveries.includes('vote-2'), 'the second task at the broker')
    expect(pg.relay.published, 'confirmed while its confirm was held').to.equal(1)
    a.cut()

    // The relay learns UNAVAILABLE, keeps the row, and publishes it again through b.
    await waitFor(() => deliveries.filter((id) => id === 'vote-2').length === 2, 'the second task resent', 15_000)
    await waitFor(() => pg.relay.published === 2, 'the resend confirmed', 5000)
    expect(b.accepted).to.equal(1)
    const failures = logger.entries.filter((e) => e.message === 'postgres: outbox publish failed')
    expect(failures.map((e) => [e.fields.id, e.fields.code])).to.deep.equal([['vote-2', 'UNAVAILABLE']])
    expect(await pg.outbox()).to.have.property('depth', 0)
    expect(deliveries).to.deep.equal(['vote-1', 'vote-2', 'vote-2'])
  })
})
