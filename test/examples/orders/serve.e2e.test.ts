import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { run } from '../../bin/run.js'
import type { Serving } from '../../bin/spawn.js'
import { serve } from '../../bin/spawn.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'

const SERVICES = ['inventory', 'payment', 'shipping', 'checkout'] as const
const module = (service: string) => `examples/orders/services/${service}.ts`
const ENDED = ['completed', 'compensated', 'compensation_failed', 'failed']

interface Status {
  state: string
  error?: { code: string }
  steps: { step: string; state: string }[]
}

/** Places an order through checkout's HTTP port and waits (bounded) for its saga to end. */
async function place(url: string, orderId: string, extra: string[] = []): Promise<Status> {
  const args = ['role:checkout,cmd:place', `orderId=${orderId}`, 'sku=book', 'quantity=1', 'amount=20', ...extra]
  const placed = await run(['act', '--url', url, ...args])
  expect(placed.code, placed.stderr).to.equal(0)
  expect(JSON.parse(placed.stdout)).to.deep.equal({ id: `order:${orderId}` })
  const until = Date.now() + 60_000
  for (;;) {
    const shown = await run(['saga', 'status', `order:${orderId}`, '--url', url])
    expect(shown.code, shown.stderr).to.equal(0)
    const st = JSON.parse(shown.stdout) as Status
    if (ENDED.includes(st.state)) return st
    if (Date.now() > until) throw new Error(`order ${orderId} did not end: ${shown.stdout}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const steps = (st: Status) => st.steps.map((s) => `${s.step}:${s.state}`)

/** `stoa act` against `url`, answering the parsed result. */
async function act(url: string, pattern: string, msg: Record<string, unknown>): Promise<unknown> {
  const got = await run(['act', '--url', url, pattern, '--json', JSON.stringify(msg)])
  expect(got.code, got.stderr).to.equal(0)
  return JSON.parse(got.stdout) as unknown
}

/**
 * The order saga as examples/orders/README.md runs it on RabbitMQ and PostgreSQL: each service
 * module under its own `stoa serve --amqp`, each with its own database, queues under a prefix
 * of this run; checkout's saga, declared by its plugin, on the DBOS engine. A checkout
 * completes; a declined payment is compensated (the charge's undo, then the reservation's), as
 * `stoa saga status` shows.
 */
describe('examples/orders under stoa serve on RabbitMQ and PostgreSQL: one process per service', function () {
  this.timeout(180_000)
  const prefix = `${process.env.STOA_TEST_DB_PREFIX ?? ''}orders_e2e_${randomBytes(4).toString('hex')}`
  const dbs: TestDatabase[] = []
  const running: Serving[] = []
  let url = ''

  before(async () => {
    for (const _ of SERVICES) dbs.push(await createTestDatabase('orders_e2e'))
    const amqp = `${AMQP_URL}?prefix=${prefix}`
    const started = await Promise.all(
      SERVICES.map((service, i) =>
        serve(
          [module(service), '--amqp', amqp, ...(service === 'checkout' ? ['--http', '127.0.0.1:0'] : [])],
          service === 'checkout' ? 2 : 1,
          90_000,
          { DATABASE_URL: dbs[i]!.url, EXECUTOR_ID: `checkout-${prefix}`, LOG_LEVEL: 'warn' },
        ),
      ),
    )
    running.push(...started)
    url = started[SERVICES.indexOf('checkout')]!.urls.find((u) => u.startsWith('http'))!
  })
  after(async () => {
    await Promise.all(running.map((s) => s.stop()))
    await deleteTopology(prefix, [...SERVICES, 'cli'])
    for (const db of dbs) await db.drop()
  })

  it('a checkout completes: reserved, charged and shipped by the other services over RabbitMQ', async () => {
    const st = await place(url, '1')
    expect(st.state).to.equal('completed')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:done', 'ship:done'])
    const payment = `${AMQP_URL}?service=payment&prefix=${prefix}`
    const shipping = `${AMQP_URL}?service=shipping&prefix=${prefix}`
    expect(await act(payment, 'role:payment,cmd:get', { orderId: '1' })).to.deep.equal({ amount: 20, state: 'charged' })
    expect(await act(shipping, 'role:shipping,cmd:get', { orderId: '1' })).to.deep.equal({ state: 'booked' })
  })

  it('fail=payment compensates: the charge and the reservation undone, in reverse order', async () => {
    const st = await place(url, '2', ['fail=payment'])
    expect(st.state).to.equal('compensated')
    expect(st.error?.code).to.equal('INVALID_MESSAGE')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:failed', 'undo:charge:done', 'undo:reserve:done'])
    const payment = `${AMQP_URL}?service=payment&prefix=${prefix}`
    expect(await act(payment, 'role:payment,cmd:get', { orderId: '2' })).to.equal(null)
  })

  it('checkout runs its saga on the DBOS engine, which says nothing of not being durable', () => {
    const checkout = running[SERVICES.indexOf('checkout')]!
    expect(checkout.stderr()).not.to.match(/NOT durable/)
    // Every step's pattern reaches a participant's queue: no unanswered step was warned of.
    expect(checkout.stderr()).not.to.match(/no client answers/)
  })
})

/** The whole shop in one `stoa serve` process, with no server: PGlite, the in-memory engine. */
describe('examples/orders under stoa serve embedded: services/shop.ts, one process', function () {
  this.timeout(120_000)
  let shop: Serving | undefined
  let url = ''

  before(async () => {
    shop = await serve([module('shop'), '--http', '127.0.0.1:0'], 1, 90_000, { LOG_LEVEL: 'warn' })
    url = shop.urls[0]!
  })
  after(async () => {
    await shop?.stop()
  })

  it('says the sagas are not durable, and completes and compensates orders', async () => {
    expect(shop!.stderr()).to.match(/NOT durable/)
    const ok = await place(url, '1')
    expect(ok.state).to.equal('completed')
    expect(steps(ok)).to.deep.equal(['reserve:done', 'charge:done', 'ship:done'])
    const failed = await place(url, '2', ['fail=shipping'])
    expect(failed.state).to.equal('compensated')
    expect(steps(failed)).to.deep.equal([
      'reserve:done',
      'charge:done',
      'ship:failed',
      'undo:ship:done',
      'undo:charge:done',
      'undo:reserve:done',
    ])
    expect(await act(url, 'role:payment,cmd:get', { orderId: '2' })).to.deep.equal({ amount: 20, state: 'refunded' })
    expect(await act(url, 'role:inventory,cmd:stock', { sku: 'book' })).to.deep.equal({ sku: 'book', available: 9 })
  })
})
