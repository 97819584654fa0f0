import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import type { OwnNatsServer } from '../../fixtures/nats-cluster.js'
import { startNatsServer } from '../../fixtures/nats-cluster.js'
import { uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

describe('nats transport across a server restart', function () {
  this.timeout(60_000)
  let server: OwnNatsServer
  const started: Stoa<any>[] = []

  before(async () => {
    server = await startNatsServer(uniquePrefix('restart'))
  })
  after(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
    // The server and its store are this test's own: closing it removes the streams.
    await server?.close()
  })

  it('keeps stored tasks, reports not ready while the server is down, and takes work again when it is back', async () => {
    const prefix = uniquePrefix('restart')
    const handled = new Set<number>()
    let gate = false
    const tally = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 1000 })
    tally.add('task:tally.vote.record', (m) => {
      // Fails until the server has been restarted, so the first tasks wait in the stream through it.
      if (!gate) throw new Error('not yet')
      handled.add(Number(m.i))
    })
    tally.listen(
      createNatsTransport({
        url: server.url,
        prefix,
        backoffMs: 100,
        maxBackoffMs: 200,
        attempts: 50,
        ackWaitMs: 2000,
      }),
    )
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() })
    gateway.client(createNatsTransport({ url: server.url, prefix }))
    started.push(tally, gateway)
    await tally.ready()
    await gateway.ready()

    await Promise.all([0, 1, 2, 3, 4].map((i) => gateway.send('tally.vote.record', { i })))
    await server.kill()
    let ready = true
    for (const until = Date.now() + 10_000; ready && Date.now() < until; await settle(20))
      ready = (await tally.readiness()).ready
    expect(ready).to.equal(false)
    gate = true
    await server.start()
    // Both sides must be connected again: the gateway's own connection comes back on its own schedule.
    for (const until = Date.now() + 20_000; !ready && Date.now() < until; await settle(50))
      ready = (await tally.readiness()).ready && (await gateway.readiness()).ready
    expect(ready).to.equal(true)
    await Promise.all([5, 6, 7].map((i) => gateway.send('tally.vote.record', { i }, { timeoutMs: 10_000 })))
    await waitFor(() => handled.size === 8, 'every task, those sent before the restart included', 30_000)
    expect([...handled].sort()).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7])
  })
})
