import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, dropConnections, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

/**
 * An instance holding its intake (its database is down) that loses its broker connection
 * meanwhile: the reconnection declares the queues again but must not consume until the hold is
 * lifted, or an outage of two things at once would run tasks against the missing database.
 */
describe('amqp listener reconnecting while the instance holds its intake', function () {
  this.timeout(30000)
  const prefix = uniquePrefix('hold')
  const started: Stoa<any>[] = []

  after(async () => {
    for (const s of started.reverse()) await s.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
  })

  const transport = (role: string) =>
    createAmqpTransport({
      url: AMQP_URL,
      prefix,
      connectionName: `${prefix}/${role}`,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    })

  /** Whether the instance's broker connection is up again (intake holds aside). */
  const connected = async (s: Stoa<any>) =>
    (await s.readiness()).checks.filter((c) => c.name.startsWith('transport:')).every((c) => c.ready)

  it('declares again but takes nothing until the hold is lifted, then takes what waited', async () => {
    const ran: number[] = []
    const worker = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 2000 })
      .add('task:tally.vote.record', (msg) => void ran.push(msg.n as number))
      .listen(transport('tally'))
    const sender = createStoa({ name: 'gateway', logger: quietLogger() }).client(transport('gateway'))
    started.push(worker, sender)
    await worker.ready()
    await sender.ready()

    worker.pauseIntake('postgres', 'down')
    await settle(100)
    expect(await dropConnections(`${prefix}/tally`)).to.be.at.least(1)
    // The drop reaches the worker: it reconnects by itself, after its backoff.
    await settle(300)
    for (let until = Date.now() + 10_000; !(await connected(worker)); ) {
      if (Date.now() > until) throw new Error('the worker did not reconnect in 10 s')
      await settle(50)
    }
    await sender.send('tally.vote.record', { n: 1 })
    await sender.send('tally.vote.record', { n: 2 })
    await settle(500)
    expect(ran, 'tasks taken while held').to.deep.equal([])
    expect((await worker.readiness()).ready).to.equal(false)

    worker.resumeIntake('postgres')
    await waitFor(() => ran.length === 2, 'both tasks after the resume')
    expect([...ran].sort()).to.deep.equal([1, 2])
  })
})
