import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { AmqpOptions } from '../../../transports/amqp/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

describe('amqp client: acts, tasks and events', function () {
  this.timeout(20000)
  let prefix: string
  let started: Stoa<any>[]
  let raw: Awaited<ReturnType<typeof rawChannel>>

  beforeEach(async () => {
    prefix = uniquePrefix('client')
    started = []
    raw = await rawChannel()
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await raw.close()
    await deleteTopology(prefix, ['tally', 'audit', 'auth', 'gateway', 'ghost', 'math'])
  })

  function make(name: string): Stoa<any> {
    const s = createStoa({ name, logger: quietLogger() })
    started.push(s)
    return s
  }
  const transport = (o: AmqpOptions = {}) => createAmqpTransport({ url: AMQP_URL, prefix, ...o })

  it('resolves send once the task is stored, so it waits for a service started later', async () => {
    const gw = await make('gateway').client(transport()).ready()
    await gw.send('tally.vote.record', { voter: 'early' })
    const q = await raw.ch.checkQueue(names(prefix).tasks('tally'))
    expect(q.messageCount).to.equal(1)
    const seen: string[] = []
    await make('tally')
      .add('task:tally.vote.record', (m) => void seen.push(String(m.voter)))
      .listen(transport())
      .ready()
    await waitFor(() => seen.length === 1, 'the stored task')
    expect(seen).to.deep.equal(['early'])
  })

  it('fails an act at once with UNAVAILABLE when no instance of the target listens', async () => {
    const gw = await make('gateway')
      .client(transport({ target: 'ghost' }), ['role:ghost'])
      .ready()
    const err = (await gw.act('role:ghost,cmd:boo', {}, { timeoutMs: 15000 }).catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
  })

  it('does not run a request whose deadline passed while it waited in the queue', async () => {
    const ran: string[] = []
    const server = make('math').add('role:math,cmd:slow', async (m) => {
      ran.push(String(m.n))
      await new Promise((r) => setTimeout(r, 400))
      return m.n
    })
    await server.listen(transport({ prefetch: 1 })).ready()
    const gw = await make('gateway')
      .client(transport({ target: 'math' }), ['role:math'])
      .ready()
    const first = gw.act('role:math,cmd:slow', { n: 'first' })
    await waitFor(() => ran.length === 1, 'the first request to start')
    const second = (await gw
      .act('role:math,cmd:slow', { n: 'second' }, { timeoutMs: 100 })
      .catch((e: unknown) => e)) as StoaError
    expect(second.code).to.equal('TIMEOUT')
    expect(await first).to.equal('first')
    await settle(300)
    expect(ran).to.deep.equal(['first'])
  })

  it('gives each subscribing service every matching event once, partial-segment wildcards included', async () => {
    const got = { audit: [] as string[], auth: [] as string[] }
    for (const i of [1, 2]) {
      await make('audit')
        .on('user.*', (_m, ctx) => void got.audit.push(`${i}:${String(ctx.event)}`))
        .listen(transport())
        .ready()
      await make('auth')
        .on('user.auth*', (_m, ctx) => void got.auth.push(`${i}:${String(ctx.event)}`))
        .listen(transport())
        .ready()
    }
    const gw = await make('gateway').client(transport()).ready()
    await gw.emit('user.authed', {})
    await gw.emit('user.deleted', {})
    await waitFor(() => got.audit.length === 2 && got.auth.length === 1, 'the events')
    await settle()
    expect(got.audit.map((e) => e.slice(2)).sort()).to.deep.equal(['user.authed', 'user.deleted'])
    expect(got.auth.map((e) => e.slice(2))).to.deep.equal(['user.authed'])
  })

  it('refuses a task larger than maxBodyBytes with PAYLOAD_TOO_LARGE', async () => {
    const gw = await make('gateway')
      .client(transport({ maxBodyBytes: 100 }))
      .ready()
    const err = (await gw.send('tally.vote.record', { pad: 'x'.repeat(200) }).catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('PAYLOAD_TOO_LARGE')
  })

  it('waits for drain when the socket is full, and beyond the buffer bound fails with OVERLOADED', async () => {
    const gw = await make('gateway')
      .client(transport({ bufferSize: 4 }))
      .ready()
    // amqplib's channel buffer holds 1024 frames: a burst of small publishes overflows it.
    const results = await Promise.allSettled(
      Array.from({ length: 3000 }, (_, i) => gw.send('tally.vote.record', { i })),
    )
    const ok = results.filter((r) => r.status === 'fulfilled').length
    const codes = new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as StoaError).code] : [])))
    expect(ok).to.be.greaterThan(0)
    expect([...codes]).to.deep.equal(['OVERLOADED'])
    // Every publish that resolved is in the queue: backpressure lost nothing.
    expect((await raw.ch.checkQueue(names(prefix).tasks('tally'))).messageCount).to.equal(ok)
  })

  it('fails a task whose queue was deleted with UNAVAILABLE instead of letting it vanish', async () => {
    const gw = await make('gateway').client(transport()).ready()
    await gw.send('tally.vote.record', { i: 1 })
    await raw.ch.deleteQueue(names(prefix).tasks('tally'))
    const err = (await gw.send('tally.vote.record', { i: 2 }).catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
  })
})
