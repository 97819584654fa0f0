import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import type { AmqpOptions } from '../../../transports/amqp/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

describe('amqp listener: prefetch, acks and graceful shutdown', function () {
  this.timeout(20000)
  let prefix: string
  let started: Stoa<any>[]
  let raw: Awaited<ReturnType<typeof rawChannel>>

  beforeEach(async () => {
    prefix = uniquePrefix('listen')
    started = []
    raw = await rawChannel()
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await raw.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
  })

  function make(name: string): Stoa<any> {
    const s = createStoa({ name, logger: quietLogger(), graceMs: 5000 })
    started.push(s)
    return s
  }
  const transport = (o: AmqpOptions = {}) => createAmqpTransport({ url: AMQP_URL, prefix, ...o })
  const queued = async () => (await raw.ch.checkQueue(names(prefix).tasks('tally'))).messageCount

  it('holds at most `prefetch` tasks at once', async () => {
    let running = 0
    let most = 0
    let done = 0
    await make('tally')
      .add('task:tally.vote.record', async () => {
        most = Math.max(most, ++running)
        await new Promise((r) => setTimeout(r, 30))
        running--
        done++
      })
      .listen(transport({ prefetch: 2 }))
      .ready()
    const gw = await make('gateway').client(transport()).ready()
    await Promise.all(Array.from({ length: 10 }, (_, i) => gw.send('tally.vote.record', { i })))
    await waitFor(() => done === 10, 'every task')
    expect(most).to.equal(2)
  })

  it('on close, finishes and acknowledges the tasks in hand and leaves the rest queued for another instance', async () => {
    const handled: string[] = []
    let inHand = 0
    const worker = (label: string) =>
      make('tally').add('task:tally.vote.record', async (m) => {
        inHand++
        await new Promise((r) => setTimeout(r, 300))
        handled.push(`${label}:${String(m.i)}`)
      })
    const first = await worker('a')
      .listen(transport({ prefetch: 3 }))
      .ready()
    const gw = await make('gateway').client(transport()).ready()
    await Promise.all(Array.from({ length: 8 }, (_, i) => gw.send('tally.vote.record', { i })))
    await waitFor(() => inHand === 3, 'three tasks in hand')
    await first.close()
    // Close waited for the three in hand; nothing else ran there.
    expect(handled.filter((h) => h.startsWith('a:'))).to.have.length(3)
    expect(handled).to.have.length(3)
    expect(await queued()).to.equal(5)
    await worker('b').listen(transport()).ready()
    await waitFor(() => handled.length === 8, 'the rest at the second instance')
    await settle()
    const ids = handled.map((h) => h.split(':')[1]).sort()
    expect(ids).to.deep.equal(['0', '1', '2', '3', '4', '5', '6', '7'])
    expect(await queued()).to.equal(0)
  })

  it('answers only the acts matching its pins', async () => {
    await make('tally')
      .add('role:tally,cmd:count', () => 1)
      .add('role:tally,cmd:secret', () => 2)
      .listen(transport(), ['role:tally,cmd:count'])
      .ready()
    const gw = await make('gateway')
      .client(transport({ target: 'tally' }), ['role:tally'])
      .ready()
    expect(await gw.act('role:tally,cmd:count')).to.equal(1)
    const err = (await gw.act('role:tally,cmd:secret').catch((e: unknown) => e)) as { code: string }
    expect(err.code).to.equal('NOT_FOUND')
  })

  it('declares task queues as quorum queues when asked, and works the same', async () => {
    const seen: number[] = []
    await make('tally')
      .add('task:tally.vote.record', (m) => void seen.push(Number(m.i)))
      .listen(transport({ queueType: 'quorum' }))
      .ready()
    const gw = await make('gateway')
      .client(transport({ queueType: 'quorum' }))
      .ready()
    await gw.send('tally.vote.record', { i: 1 })
    await waitFor(() => seen.length === 1, 'the task')
    // Re-declaring it as a classic queue is refused: it really is a quorum queue.
    const probe = await rawChannel()
    const refused = await probe.ch.assertQueue(names(prefix).tasks('tally'), { durable: true }).then(
      () => false,
      (err: { code?: number }) => err.code === 406,
    )
    await probe.close()
    expect(refused).to.equal(true)
    // An instance declaring it classic refuses to start, saying why.
    const classic = make('tally').add('task:tally.vote.record', () => undefined)
    const err = (await classic
      .listen(transport())
      .ready()
      .catch((e: unknown) => e)) as { code: string; message: string }
    expect(err.code).to.equal('INVALID_OPTIONS')
    expect(err.message).to.include('queueType')
  })

  it('still acknowledges work in hand when the service stops waiting for it before the transport closes', async () => {
    const handled: string[] = []
    let begun = 0
    const slow = (label: string, graceMs: number) =>
      createStoa({ name: 'tally', logger: quietLogger(), graceMs }).add('task:tally.vote.record', async (m) => {
        begun++
        await new Promise((r) => setTimeout(r, 300))
        handled.push(`${label}:${String(m.i)}`)
      })
    // The service gives up on its in-flight work after 20 ms; the transport keeps the delivery
    // until the action is done and acknowledged, so nobody runs it a second time.
    const first = slow('a', 20)
    await first.listen(transport()).ready()
    const gw = await make('gateway').client(transport()).ready()
    await gw.send('tally.vote.record', { i: 0 })
    await waitFor(() => begun === 1, 'the task to start')
    await first.close()
    expect(handled).to.deep.equal(['a:0'])
    const second = slow('b', 5000)
    started.push(second)
    await second.listen(transport()).ready()
    await settle(300)
    expect(handled).to.deep.equal(['a:0'])
    expect(await queued()).to.equal(0)
  })
})
