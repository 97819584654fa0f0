import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { backoffDelays } from '../../../actions/transport.js'
import type { AmqpOptions } from '../../../transports/amqp/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import type { DeadLetter } from '../../fixtures/amqp-broker.js'
import { AMQP_URL, deleteTopology, drainQueue, rawChannel } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const RETRY = { attempts: 3, backoffMs: 20, maxBackoffMs: 40 }

/**
 * `queueType: 'quorum'` on the real broker: every durable queue is a quorum queue, stoa's retry
 * rule counts tries as on classic queues, and the broker's own delivery limit dead-letters a
 * message that keeps coming back unacknowledged (a consumer that dies with it) into the
 * service's dead-letter queue instead of dropping it or looping.
 */
describe('amqp on quorum queues', function () {
  this.timeout(20000)
  let prefix: string
  let started: Stoa<any>[]
  let raw: Awaited<ReturnType<typeof rawChannel>>

  beforeEach(async () => {
    prefix = `scale_${randomBytes(4).toString('hex')}`
    started = []
    raw = await rawChannel()
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await raw.close()
    await deleteTopology(prefix, ['tally', 'gateway'], RETRY)
  })

  const transport = (extra: AmqpOptions = {}) =>
    createAmqpTransport({ url: AMQP_URL, prefix, queueType: 'quorum', ...RETRY, ...extra })

  async function start(s: Stoa<any>, listen: boolean, extra?: AmqpOptions): Promise<Stoa<any>> {
    if (listen) s.listen(transport(extra))
    else s.client(transport(extra))
    started.push(s)
    return s.ready()
  }

  /** Whether the queue is a quorum queue: re-declaring it as a classic one is refused (406). */
  async function isQuorum(queue: string): Promise<boolean> {
    const probe = await rawChannel()
    try {
      return await probe.ch.assertQueue(queue, { durable: true }).then(
        () => false,
        (err: { code?: number }) => err.code === 406,
      )
    } finally {
      await probe.close().catch(() => undefined)
    }
  }

  async function deadLetters(count: number): Promise<DeadLetter[]> {
    const got: DeadLetter[] = []
    const queue = names(prefix).dlq('tally')
    const until = Date.now() + 10_000
    while (got.length < count) {
      if (Date.now() > until) throw new Error(`only ${got.length} of ${count} dead letters in ${queue}`)
      got.push(...(await drainQueue(raw.ch, queue)))
      if (got.length < count) await settle(20)
    }
    return got
  }

  it('declares the task, event, delay and dead-letter queues as quorum queues', async () => {
    const tally = createStoa({ name: 'tally', logger: quietLogger() })
      .add('task:tally.vote.record', () => undefined)
      .on('vote.recorded', () => undefined)
    await start(tally, true)
    const n = names(prefix)
    const queues = [
      n.tasks('tally'),
      n.eventQueue('tally'),
      n.dlq('tally'),
      ...new Set(backoffDelays(RETRY.attempts, RETRY.backoffMs, RETRY.maxBackoffMs).map((ms) => n.retryQueue(ms))),
    ]
    const kinds: Record<string, boolean> = {}
    for (const q of queues) kinds[q] = await isQuorum(q)
    expect(kinds).to.deep.equal(Object.fromEntries(queues.map((q) => [q, true])))
  })

  it('retries with backoff through quorum delay queues, then dead-letters with stoa’s attempt count', async () => {
    const tries: number[] = []
    let done = 0
    const tally = createStoa({ name: 'tally', logger: quietLogger() }).add('task:tally.vote.record', (m) => {
      tries.push(Number(m.n))
      if (m.n === 2) throw new StoaError('UNAVAILABLE', 'always down')
      if (tries.filter((t) => t === 1).length < 2) throw new StoaError('TIMEOUT', 'once')
      done++
    })
    await start(tally, true)
    const gw = await start(createStoa({ name: 'gateway', logger: quietLogger() }), false)
    await gw.send('tally.vote.record', { n: 1 })
    await gw.send('tally.vote.record', { n: 2 })
    const [dead] = await deadLetters(1)
    await waitFor(() => done === 1, 'the first task to pass on its second try')
    expect(dead!.body).to.deep.equal({ n: 2 })
    expect(dead!.headers).to.include({ 'x-stoa-error-code': 'UNAVAILABLE', 'x-stoa-attempts': RETRY.attempts })
    await settle()
    expect(tries.filter((t) => t === 1)).to.have.length(2)
    expect(tries.filter((t) => t === 2)).to.have.length(RETRY.attempts)
  })

  it('dead-letters a task handed out more than deliveryLimit times unacknowledged, once, with the broker’s reason', async () => {
    // A consumer that dies with every delivery (here: hands it back) is what the limit stops;
    // stoa's tries never ran, so only the broker's count can.
    const gw = await start(createStoa({ name: 'gateway', logger: quietLogger() }), false, { deliveryLimit: 2 })
    // The worker's queues are declared by its first instance: one that takes nothing.
    const tally = createStoa({ name: 'tally', logger: quietLogger() }).add('task:tally.vote.record', () => undefined)
    await start(tally, true, { deliveryLimit: 2 })
    await tally.close()
    started.splice(started.indexOf(tally), 1)
    await gw.send('tally.vote.record', { voter: 'crasher' })
    let handedOut = 0
    const queue = names(prefix).tasks('tally')
    const { consumerTag } = await raw.ch.consume(queue, (m) => {
      if (m === null) return
      handedOut++
      raw.ch.nack(m, false, true)
    })
    const [dead] = await deadLetters(1)
    await raw.ch.cancel(consumerTag)
    expect(dead!.body).to.deep.equal({ voter: 'crasher' })
    const death = (dead!.headers['x-death'] as { reason: string; queue: string }[] | undefined)?.[0]
    expect(death).to.include({ reason: 'delivery_limit', queue })
    // Handed out once, then twice more (the limit), then dead-lettered: never dropped, never looping.
    expect(handedOut).to.equal(3)
    await settle()
    expect(await drainQueue(raw.ch, names(prefix).dlq('tally'))).to.deep.equal([])
  })
})
