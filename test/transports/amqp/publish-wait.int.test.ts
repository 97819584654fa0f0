import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { AmqpOptions } from '../../../transports/amqp/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, drainQueue, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import type { TcpProxy } from './tcp-proxy.js'
import { startTcpProxy } from './tcp-proxy.js'

/** Far beyond any publish wait a test sets, far below the sends' own deadline (60 s). */
const BOUND_MS = 15_000

/** How a send ended: `OK`, its error code, or `still waiting` once the bound is over. */
async function outcome(p: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('still waiting'), BOUND_MS)
  })
  try {
    return await Promise.race([
      p.then(
        () => 'OK',
        (err: unknown) => (err instanceof StoaError ? err.code : String(err)),
      ),
      bound,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once the instance knows its broker connection is lost (bounded). */
async function notReady(s: Stoa<any>): Promise<void> {
  for (const until = Date.now() + BOUND_MS; (await s.readiness()).ready; ) {
    if (Date.now() > until) throw new Error('the sender did not notice the cut')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * A broker that goes away under a sender, through a TCP proxy this test cuts or black-holes
 * (the machine's RabbitMQ keeps running for everyone else). A send waits for the broker no
 * longer than the transport's publish wait or the call's deadline, whichever ends first, and
 * then answers `UNAVAILABLE`; a send that resolved was confirmed by the broker.
 */
describe('amqp sends while the broker is unreachable', function () {
  this.timeout(120_000)
  const prefix = uniquePrefix('voteops')
  const queue = names(prefix).tasks('tally')
  const started: Stoa<any>[] = []
  let proxy: TcpProxy

  before(async () => {
    const broker = new URL(AMQP_URL)
    proxy = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
  })
  afterEach(() => proxy.restore())
  after(async () => {
    for (const s of started.reverse()) await s.close()
    await proxy?.close()
    await deleteTopology(prefix, ['tally', 'ledger'])
  })

  const proxied = () => {
    const broker = new URL(AMQP_URL)
    broker.host = proxy.address
    return broker.toString()
  }
  /** A sender through the proxy, with long deadlines: only the publish wait can cut them short. */
  const gateway = async (options: Partial<AmqpOptions> = {}) => {
    const s = createStoa({ name: 'gateway', logger: quietLogger(), timeoutMs: 60_000 })
    started.push(s)
    s.client(createAmqpTransport({ url: proxied(), prefix, reconnectMinMs: 50, reconnectMaxMs: 200, ...options }))
    await s.ready()
    // Declares the task queue while the broker is reachable.
    await s.send('tally.vote.record', { i: -1 })
    return s
  }

  it('black-holed: a send the broker never confirms answers UNAVAILABLE after the default publish wait', async () => {
    const s = await gateway()
    proxy.blackhole()
    expect(await outcome(s.send('tally.vote.record', { i: 0 }))).to.equal('UNAVAILABLE')
  })

  it('cut: a send held in the buffer while reconnects fail answers UNAVAILABLE after the default publish wait', async () => {
    const s = await gateway()
    proxy.cut()
    await notReady(s)
    expect(await outcome(s.send('tally.vote.record', { i: 1 }))).to.equal('UNAVAILABLE')
  })

  it('black-holed: a first send to a service, whose queue is still to declare, answers UNAVAILABLE too', async () => {
    const s = await gateway()
    proxy.blackhole()
    expect(await outcome(s.send('ledger.entry.add', { i: 0 }))).to.equal('UNAVAILABLE')
  })

  it("the call's deadline bounds the wait when it ends before the publish wait", async () => {
    const s = await gateway({ publishWaitMs: 600_000 })
    proxy.cut()
    await notReady(s)
    const code = await outcome(s.send('tally.vote.record', { i: 2 }, { timeoutMs: 500 }))
    expect(code).to.be.oneOf(['UNAVAILABLE', 'TIMEOUT'])
  })

  it('across black holes and cuts, every send that resolved is in the queue', async () => {
    const s = await gateway({ publishWaitMs: 300 })
    const ok = new Set<number>()
    const failed: string[] = []
    let i = 1000
    let sending = true
    const loop = async () => {
      while (sending) {
        const n = i++
        const code = await outcome(s.send('tally.vote.record', { i: n }))
        if (code === 'OK') ok.add(n)
        else failed.push(code)
      }
    }
    const loops = Array.from({ length: 8 }, loop)
    const phase = async (fail: () => void) => {
      const before = ok.size
      fail()
      await new Promise((r) => setTimeout(r, 1000))
      proxy.restore()
      await waitFor(() => ok.size > before + 20, 'sends to succeed again', BOUND_MS)
    }
    await waitFor(() => ok.size > 20, 'the first sends', BOUND_MS)
    await phase(() => proxy.blackhole())
    await phase(() => proxy.cut())
    await phase(() => proxy.blackhole())
    sending = false
    await Promise.all(loops)

    expect(failed.length, 'sends that failed during the outages').to.be.greaterThan(0)
    expect(failed.filter((c) => c !== 'UNAVAILABLE')).to.deep.equal([])
    const raw = await rawChannel()
    try {
      const queued = new Set<number>()
      for (const m of await drainQueue(raw.ch, queue)) queued.add(Number((m.body as { i: number }).i))
      const lost = [...ok].filter((n) => !queued.has(n))
      expect(lost, 'sends that resolved but are not in the queue').to.deep.equal([])
    } finally {
      await raw.close()
    }
  })
})
