import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { AmqpOptions } from '../../../transports/amqp/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import {
  AMQP_URL,
  deleteTopology,
  dropConnections,
  rawChannel,
  streamTasks,
  uniquePrefix,
} from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

/**
 * Connection loss is simulated with `rabbitmqctl close_connection` on this test's own
 * connections (found by their client-provided name), never on other clients of the broker.
 */
describe('amqp connection loss and recovery', function () {
  this.timeout(60000)
  let prefix: string
  let started: Stoa<any>[]

  beforeEach(() => {
    prefix = uniquePrefix('conn')
    started = []
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await deleteTopology(prefix, ['tally', 'math', 'gateway'])
  })

  function make(name: string): Stoa<any> {
    const s = createStoa({ name, logger: quietLogger(), timeoutMs: 20000 })
    started.push(s)
    return s
  }
  const transport = (role: string, o: AmqpOptions = {}) =>
    createAmqpTransport({
      url: AMQP_URL,
      prefix,
      connectionName: `${prefix}/${role}`,
      reconnectMinMs: 50,
      reconnectMaxMs: 500,
      ...o,
    })

  it('loses no confirmed task when the connections drop mid-stream, and resumes consuming', async () => {
    const handled = new Set<number>()
    await make('tally')
      .add('task:tally.vote.record', (m) => void handled.add(Number(m.i)))
      .listen(transport('tally'))
      .ready()
    const gw = await make('gateway').client(transport('gateway')).ready()
    // A steady stream with a few publishes in flight at any time, across the drop and on for
    // 200 more after it.
    const stream = streamTasks(gw)
    const { confirmed, failed } = stream
    await waitFor(() => confirmed.length >= 100, 'a hundred confirmed tasks', 10000)
    const before = stream.sent()
    const dropped = await dropConnections(prefix)
    await stream.stop(200)
    expect(stream.sent() - before).to.be.greaterThan(200) // the stream did run across the drop
    expect(dropped).to.equal(2)
    // Unconfirmed publishes may fail, and only with UNAVAILABLE; most wait in the buffer instead.
    for (const code of failed) expect(code).to.equal('UNAVAILABLE')
    await waitFor(() => confirmed.every((n) => handled.has(n)), 'every confirmed task handled', 20000)
    // After the drop, new work flows both ways again.
    await gw.send('tally.vote.record', { i: 10_000 })
    await waitFor(() => handled.has(10_000), 'a task sent after recovery')
  })

  it('fails acts in flight during the drop with UNAVAILABLE, then serves acts again', async () => {
    let calls = 0
    await make('math')
      .add('role:math,cmd:sum', async (m) => {
        calls++
        await new Promise((r) => setTimeout(r, 20))
        return Number(m.left) + Number(m.right)
      })
      .listen(transport('math'))
      .ready()
    const gw = await make('gateway')
      .client(transport('gateway', { target: 'math' }), ['role:math'])
      .ready()
    expect(await gw.act('role:math,cmd:sum', { left: 1, right: 2 })).to.equal(3)
    const inFlight = Array.from({ length: 20 }, () =>
      gw.act('role:math,cmd:sum', { left: 1, right: 1 }).catch((e: StoaError) => e.code),
    )
    await dropConnections(`${prefix}/gateway`)
    const outcomes = await Promise.all(inFlight)
    for (const o of outcomes) expect([2, 'UNAVAILABLE']).to.include(o)
    let answer: unknown
    for (let tries = 0; tries < 200 && answer !== 5; tries++) {
      answer = await gw.act('role:math,cmd:sum', { left: 2, right: 3 }).catch((e: StoaError) => e.code)
      if (answer !== 5) await settle(50)
    }
    expect(answer).to.equal(5)
    expect(calls).to.be.greaterThan(1)
  })

  it('holds publishes made while the broker is unreachable and sends them on reconnection', async () => {
    const handled: number[] = []
    await make('tally')
      .add('task:tally.vote.record', (m) => void handled.push(Number(m.i)))
      .listen(transport('tally'))
      .ready()
    // A slow first reconnect keeps the client down long enough to publish into the buffer.
    const gw = await make('gateway')
      .client(transport('gateway', { reconnectMinMs: 1500, reconnectMaxMs: 1500 }))
      .ready()
    await dropConnections(`${prefix}/gateway`)
    await Promise.all([1, 2, 3].map((i) => gw.send('tally.vote.record', { i })))
    await waitFor(() => handled.length === 3, 'the buffered tasks')
    expect(handled.sort()).to.deep.equal([1, 2, 3])
  })

  it('with a zero buffer, fails a publish made while the broker is unreachable with UNAVAILABLE', async () => {
    const gw = await make('gateway')
      .client(transport('gateway', { bufferSize: 0, reconnectMinMs: 3000, reconnectMaxMs: 3000 }))
      .ready()
    await gw.send('tally.vote.record', { i: 0 })
    await dropConnections(`${prefix}/gateway`)
    const err = (await gw.send('tally.vote.record', { i: 1 }).catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
  })

  it('fails ready() with UNAVAILABLE when the broker cannot be reached, naming no internals', async () => {
    const s = make('tally').add('task:tally.vote.record', () => undefined)
    s.listen(createAmqpTransport({ url: 'amqp://127.0.0.1:1', prefix }))
    const err = (await s.ready().catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
    expect(err.message).not.to.include('ECONNREFUSED')
  })

  it('re-declares its queues and consumes again when a queue is deleted under it', async () => {
    const handled: number[] = []
    await make('tally')
      .add('task:tally.vote.record', (m) => void handled.push(Number(m.i)))
      .listen(transport('tally'))
      .ready()
    const queue = names(prefix).tasks('tally')
    /** Consumers on the queue, or -1 while it does not exist (each look on a fresh channel). */
    const consumers = async () => {
      const raw = await rawChannel()
      try {
        return await raw.ch.checkQueue(queue).then(
          (q) => q.consumerCount,
          () => -1,
        )
      } finally {
        await raw.close()
      }
    }
    const raw = await rawChannel()
    await raw.ch.deleteQueue(queue)
    await raw.close()
    // The broker cancels the consumer; the transport reconnects and declares the queue again.
    let count = -1
    for (let tries = 0; tries < 100 && count !== 1; tries++) {
      count = await consumers()
      if (count !== 1) await settle(50)
    }
    expect(count).to.equal(1)
    const gw = await make('gateway').client(transport('gateway')).ready()
    await gw.send('tally.vote.record', { i: 7 })
    await waitFor(() => handled.includes(7), 'a task after recovery')
  })
})
