import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { streamTasks, uniquePrefix } from '../../fixtures/amqp-broker.js'
import type { RabbitCluster } from '../../fixtures/rabbit-cluster.js'
import { startRabbitCluster } from '../../fixtures/rabbit-cluster.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

/**
 * A broker restart, not just dropped connections: the node's RabbitMQ application stops (every
 * connection and channel goes, non-durable queues with them) and starts again from its durable
 * state. Confirmed tasks were persisted in durable queues, so none may be lost.
 */
describe('amqp across a broker restart', function () {
  this.timeout(120_000)
  const prefix = uniquePrefix('restart')
  const started: Stoa<any>[] = []
  // A node of this test's own, since the test restarts it: the machine's broker is never touched.
  let broker: RabbitCluster

  before(async function () {
    this.timeout(120_000)
    broker = await startRabbitCluster(1, 'restart')
  })
  after(async () => {
    for (const s of started.reverse()) await s.close()
    // Stopping the node removes its data, and every queue with it.
    await broker?.close()
  })

  /** Stops and starts the node's RabbitMQ application, keeping its durable state. */
  async function restartBroker(downMs: number): Promise<void> {
    const node = broker.nodes[0]!
    await broker.ctl(node, 'stop_app')
    try {
      await new Promise((r) => setTimeout(r, downMs))
    } finally {
      await broker.ctl(node, 'start_app')
    }
    await broker.ctl(node, 'await_startup')
  }

  const make = (name: string) => {
    const s = createStoa({ name, logger: quietLogger(), timeoutMs: 30_000 })
    started.push(s)
    return s
  }
  const transport = (role: string, target?: string) =>
    createAmqpTransport({
      url: broker.url,
      prefix,
      connectionName: `${prefix}/${role}`,
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      ...(target === undefined ? {} : { target }),
    })

  it('handles every confirmed task sent before, during and after the restart, and serves acts again', async () => {
    const handled = new Set<number>()
    await make('tally')
      .add('task:tally.vote.record', (m) => void handled.add(Number(m.i)))
      .add('role:tally,cmd:ping', () => 'pong')
      .listen(transport('tally'))
      .ready()
    const gw = await make('gateway').client(transport('gateway', 'tally'), ['role:tally']).ready()
    const stream = streamTasks(gw)
    const { confirmed, failed } = stream
    await waitFor(() => confirmed.length >= 50, 'fifty confirmed tasks', 15_000)
    await restartBroker(1000)
    const afterRestart = confirmed.length
    await waitFor(() => confirmed.length >= afterRestart + 50, 'fifty more confirmed tasks after the restart', 30_000)
    await stream.stop()
    for (const code of failed) expect(['UNAVAILABLE', 'OVERLOADED']).to.include(code)
    await waitFor(() => confirmed.every((n) => handled.has(n)), 'every confirmed task handled', 30_000)
    expect(await gw.act('role:tally,cmd:ping')).to.equal('pong')
  })
})
