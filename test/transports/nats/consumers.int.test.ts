import type { JetStreamManager } from '@nats-io/jetstream'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import type { NatsOptions } from '../../../transports/nats/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { names } from '../../../transports/nats/topology.js'
import { deleteStreams, NATS_URL, rawConnection, uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

/** Whether the consumer exists, polled as a test condition. */
async function exists(jsm: JetStreamManager, stream: string, consumer: string): Promise<boolean> {
  return jsm.consumers.info(stream, consumer).then(
    () => true,
    () => false,
  )
}

/** Polls an async condition with a bound. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await settle(100)) if (await check()) return
  expect.fail(`timed out waiting for ${what}`)
}

describe('nats transport consumers', function () {
  this.timeout(60_000)
  let nc: NatsConnection
  let jsm: JetStreamManager
  const prefix = uniquePrefix('consumers')
  const n = names(prefix)
  const started: Stoa<any>[] = []

  const transport = (more: Partial<NatsOptions> = {}) => createNatsTransport({ url: NATS_URL, prefix, ...more })

  before(async () => {
    nc = await rawConnection()
    jsm = await jetstreamManager(nc)
  })
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
  })
  after(async () => {
    await nc?.close()
    await deleteStreams(prefix)
  })

  async function service(name: string, build: (s: Stoa<any>) => void, more: Partial<NatsOptions> = {}) {
    const s = createStoa({ name, logger: quietLogger(), graceMs: 1000 })
    build(s)
    s.listen(transport(more))
    started.push(s)
    await s.ready()
    return s
  }

  async function gateway() {
    const g = createStoa({ name: 'gateway', logger: quietLogger() })
    g.client(transport())
    started.push(g)
    await g.ready()
    return g
  }

  it('makes a deleted task consumer again and takes the tasks sent after', async () => {
    const handled = new Set<number>()
    const tally = await service('tally', (s) => s.add('task:tally.vote.record', (m) => void handled.add(Number(m.i))))
    const g = await gateway()
    await g.send('tally.vote.record', { i: 0 })
    await waitFor(() => handled.has(0), 'the first task')
    await jsm.consumers.delete(n.taskStream('tally'), n.taskConsumer)
    await until(() => exists(jsm, n.taskStream('tally'), n.taskConsumer), 'the task consumer made again')
    await until(async () => (await tally.readiness()).ready, 'readiness again')
    for (let i = 1; i <= 5; i++) await g.send('tally.vote.record', { i })
    await waitFor(() => handled.size === 6, 'the five tasks sent after the deletion', 20_000)
  })

  it('makes a deleted event stream and its consumer again, and takes the events emitted after', async () => {
    const got: string[] = []
    await service('tally', (s) => s.on('vote.recorded', (m) => void got.push(String(m.voter))))
    const g = await gateway()
    await g.emit('vote.recorded', { voter: 'v0' })
    await waitFor(() => got.length === 1, 'the first event')
    await jsm.streams.delete(n.eventStream)
    // The event stream keeps an event only for a consumer that exists: emit once it is back.
    await until(() => exists(jsm, n.eventStream, 'tally'), 'the event consumer made again')
    await g.emit('vote.recorded', { voter: 'v1' })
    await waitFor(() => got.includes('v1'), 'the event emitted after the deletion', 20_000)
  })

  it('keeps the consumer of a running idle service, and lets the server remove it once no instance runs', async () => {
    const idle = { consumerIdleMs: 1000 }
    const audit = await service('audit', (s) => s.on('vote.recorded', () => undefined), idle)
    // Three idle thresholds with the instance up but nothing to take: still there.
    await settle(3000)
    expect(await exists(jsm, n.eventStream, 'audit')).to.equal(true)
    await audit.close()
    started.splice(started.indexOf(audit), 1)
    await until(() => exists(jsm, n.eventStream, 'audit').then((e) => !e), 'the stale consumer removed')
  })
})
