import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import type { TcpProxy } from './tcp-proxy.js'
import { startTcpProxy } from './tcp-proxy.js'

/**
 * Several broker addresses in `url`. Two TCP proxies in front of the machine's broker stand for
 * two nodes of a cluster (the broker itself is never touched): an address that refuses is
 * skipped, and when the node in use goes away the transport connects to the other, declares its
 * queues again and goes on; a publish whose confirm was lost with the node fails `UNAVAILABLE`.
 */
describe('amqp with several broker addresses', function () {
  this.timeout(30_000)
  const prefix = `scale_${randomBytes(4).toString('hex')}`
  const started: Stoa<any>[] = []
  const proxies: TcpProxy[] = []
  const broker = new URL(AMQP_URL)
  const via = (p: TcpProxy) => {
    const u = new URL(AMQP_URL)
    u.host = p.address
    return u.href
  }

  after(async () => {
    for (const s of started.reverse()) await s.close()
    for (const p of proxies) await p.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
  })

  async function refusedAddress(): Promise<string> {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as { port: number }
    await new Promise<void>((r) => server.close(() => r()))
    return `amqp://guest:guest@127.0.0.1:${port}`
  }

  it('connects past an address that refuses, moves to the next node on loss, and counts every confirmed task once', async () => {
    const a = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
    const b = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
    proxies.push(a, b)
    const url = [await refusedAddress(), via(a), via(b)]
    const seen = new Map<number, number>()
    const reconnected = { tally: 0, gateway: 0 }
    const tally = createStoa({ name: 'tally', logger: quietLogger() }).add('task:tally.vote.record', (m) => {
      seen.set(Number(m.i), (seen.get(Number(m.i)) ?? 0) + 1)
    })
    const options = { prefix, reconnectMinMs: 20, reconnectMaxMs: 100, publishWaitMs: 3000 }
    tally.listen(createAmqpTransport({ url, ...options, observer: { reconnected: () => void reconnected.tally++ } }))
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url, ...options, observer: { reconnected: () => void reconnected.gateway++ } }),
    )
    started.push(tally, gateway)
    await Promise.all([tally.ready(), gateway.ready()])
    // The refused address was skipped: both went through a.
    expect(a.accepted).to.equal(2)
    expect(b.accepted).to.equal(0)

    // Sends flow while a's node "dies" (every connection reset, new ones refused).
    const accepted: number[] = []
    const failed: string[] = []
    let i = 0
    let sending = true
    const sender = (async () => {
      while (sending) {
        const n = i++
        await gateway.send('tally.vote.record', { i: n }).then(
          () => void accepted.push(n),
          (err: unknown) => void failed.push((err as StoaError).code),
        )
      }
    })()
    await waitFor(() => accepted.length >= 20, 'tasks before the cut')
    a.cut()
    await waitFor(() => reconnected.tally === 1 && reconnected.gateway === 1, 'both reconnected')
    const after = accepted.length
    await waitFor(() => accepted.length >= after + 20, 'tasks after the cut')
    sending = false
    await sender
    // Both are on b now, with their topology declared again there.
    expect(b.accepted).to.equal(2)
    await waitFor(() => accepted.every((n) => seen.has(n)), 'every accepted task handled')
    // A send that failed did so with UNAVAILABLE, never anything else; none that resolved was lost.
    expect(
      failed.every((code) => code === 'UNAVAILABLE'),
      failed.join(),
    ).to.equal(true)
    for (const n of accepted) expect(seen.get(n), `task ${n}`).to.be.at.least(1)
  })

  it('fails with UNAVAILABLE at start when no address answers', async () => {
    const s = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: [await refusedAddress(), await refusedAddress()], prefix }),
    )
    const err = await s.ready().then(
      () => undefined,
      (e: unknown) => e,
    )
    await s.close()
    expect(err).to.be.instanceOf(StoaError).with.property('code', 'UNAVAILABLE')
  })
})
