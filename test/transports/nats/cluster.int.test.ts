import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { names } from '../../../transports/nats/topology.js'
import type { NatsCluster } from '../../fixtures/nats-cluster.js'
import { startNatsCluster } from '../../fixtures/nats-cluster.js'
import { uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

/** Copies of each stream: one per node, so any one node may die. */
const REPLICAS = 3

describe('nats transport on a three-node JetStream cluster', function () {
  this.timeout(180_000)
  let cluster: NatsCluster
  const started: Stoa<any>[] = []
  /** Cleared to stop the stream of tasks, in the test or, should it fail midway, after it. */
  let running = false

  before(async () => {
    cluster = await startNatsCluster(3, uniquePrefix('cluster'))
  })
  after(async () => {
    running = false
    for (const s of started.splice(0).reverse()) await s.close()
    // The cluster and its store directories are this test's own: stopping it removes the streams.
    await cluster?.close()
  })

  it('loses no acknowledged task when the stream leader is killed mid-run', async () => {
    const prefix = uniquePrefix('cluster')
    const transport = () =>
      createNatsTransport({ url: cluster.url, prefix, replicas: REPLICAS, ackWaitMs: 2000, publishTimeoutMs: 5000 })
    const handled = new Set<number>()
    for (let i = 0; i < 2; i++) {
      const tally = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 2000 })
      tally.add('task:tally.vote.record', (m) => void handled.add(Number(m.i)))
      tally.listen(transport())
      started.push(tally)
      await tally.ready()
    }
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() })
    gateway.client(transport())
    started.push(gateway)
    await gateway.ready()

    // A steady stream of tasks, five in flight at a time, each counted as confirmed only once
    // send resolved (JetStream acknowledged it).
    const confirmed: number[] = []
    const failed: string[] = []
    let next = 0
    running = true
    const sending = (async () => {
      while (running) {
        const batch = Array.from({ length: 5 }, () => next++)
        await Promise.all(
          batch.map((i) =>
            gateway.send('tally.vote.record', { i }, { timeoutMs: 5000 }).then(
              () => void confirmed.push(i),
              (err: { code: string }) => void failed.push(err.code),
            ),
          ),
        )
      }
    })()

    await waitFor(() => confirmed.length >= 100, 'a hundred confirmed tasks', 30_000)
    const nc = await connect({ servers: cluster.url.split(',') })
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(names(prefix).taskStream('tally'))
    expect(info.config.num_replicas).to.equal(REPLICAS)
    const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader)
    expect(leader, `the stream leader ${String(info.cluster?.leader)}`).not.to.equal(undefined)
    // Each node reports on its own monitoring port, as the cluster's member.
    const health = await fetch(`${leader!.monitorUrl}/healthz`)
    expect(health.status).to.equal(200)
    const before = confirmed.length
    await leader!.kill()
    await waitFor(() => confirmed.length >= before + 200, 'two hundred more confirmed tasks after the kill', 60_000)
    running = false
    await sending

    await waitFor(() => confirmed.every((i) => handled.has(i)), 'every confirmed task to be handled', 60_000).catch(
      () => undefined,
    )
    const missing = confirmed.filter((i) => !handled.has(i))
    expect(missing, `confirmed but never handled (of ${confirmed.length})`).to.deep.equal([])
    await nc.close()
  })
})
