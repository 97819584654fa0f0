import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import type { SagaHandle } from 'stoa/saga'
import sagas, { createMemoryEngine } from 'stoa/saga'
import {
  checkoutActs,
  checkoutService,
  inventoryService,
  participants,
  paymentService,
  shippingService,
} from '../../../examples/orders/shop.js'
import { quietLogger } from '../../helpers/wait.js'

describe('examples/orders: the order saga in process (memory transport, PGlite, memory engine)', function () {
  this.timeout(60_000)
  let inventory: Stoa<any>
  let payment: Stoa<any>
  let shipping: Stoa<any>
  let checkout: Stoa<any>
  let handle: SagaHandle
  let memory: () => ReturnType<typeof createMemoryTransport>
  const run = Math.random().toString(36).slice(2, 8)

  before(async () => {
    const bus = createMemoryBus()
    memory = () => createMemoryTransport({ bus })
    const state = { dataDir: 'memory://' }
    const logger = quietLogger()
    inventory = inventoryService(state).create({ logger }).listen(memory())
    payment = paymentService(state).create({ logger }).listen(memory())
    shipping = shippingService(state).create({ logger }).listen(memory())
    checkout = checkoutService({ engine: createMemoryEngine(), retry: { attempts: 2, backoffMs: 5 } }).create({
      logger,
    })
    checkout.client(memory(), Object.values(participants))
    await Promise.all([inventory, payment, shipping, checkout].map((s) => s.ready()))
    handle = checkout.handleOf(sagas)
  })
  after(async () => {
    for (const s of [checkout, shipping, payment, inventory]) await s?.close()
  })

  const stock = async () =>
    ((await inventory.act('role:inventory,cmd:stock', { sku: 'book' })) as { available: number }).available
  const place = async (orderId: string, extra: Record<string, unknown> = {}) => {
    const started = (await checkout.act('role:checkout,cmd:place', {
      orderId,
      sku: 'book',
      quantity: 2,
      amount: 30,
      ...extra,
    })) as {
      id: string
    }
    const st = await handle.settled(started.id)
    if (st === undefined) throw new Error(`no saga ${started.id}`)
    return st
  }
  const steps = (st: { steps: readonly { step: string; state: string }[] }) =>
    st.steps.map((s) => `${s.step}:${s.state}`)

  it('a good order completes: stock reserved, payment charged, shipment booked', async () => {
    const before = await stock()
    const st = await place(`${run}-ok`)
    expect(st.state).to.equal('completed')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:done', 'ship:done'])
    expect(await stock()).to.equal(before - 2)
    expect(await payment.act('role:payment,cmd:get', { orderId: `${run}-ok` })).to.deep.equal({
      amount: 30,
      state: 'charged',
    })
    expect(await shipping.act('role:shipping,cmd:get', { orderId: `${run}-ok` })).to.deep.equal({ state: 'booked' })
  })

  it('a declined payment releases the reservation, in reverse order, and charges nothing', async () => {
    const before = await stock()
    const st = await place(`${run}-pay`, { fail: 'payment' })
    expect(st.state).to.equal('compensated')
    expect(st.error?.code).to.equal('INVALID_MESSAGE')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:failed', 'undo:charge:done', 'undo:reserve:done'])
    expect(await stock()).to.equal(before)
    expect(await payment.act('role:payment,cmd:get', { orderId: `${run}-pay` })).to.equal(null)
    expect(await shipping.act('role:shipping,cmd:get', { orderId: `${run}-pay` })).to.equal(null)
  })

  it('a failing shipping is retried, then refunds and releases', async () => {
    const before = await stock()
    const st = await place(`${run}-ship`, { fail: 'shipping' })
    expect(st.state).to.equal('compensated')
    expect(st.error?.code).to.equal('UNAVAILABLE')
    expect(st.steps.find((s) => s.step === 'ship')?.attempts).to.equal(2)
    expect(steps(st)).to.deep.equal([
      'reserve:done',
      'charge:done',
      'ship:failed',
      'undo:ship:done',
      'undo:charge:done',
      'undo:reserve:done',
    ])
    expect(await stock()).to.equal(before)
    expect(await payment.act('role:payment,cmd:get', { orderId: `${run}-ship` })).to.deep.equal({
      amount: 30,
      state: 'refunded',
    })
    expect(await shipping.act('role:shipping,cmd:get', { orderId: `${run}-ship` })).to.equal(null)
  })

  it('declares every pattern its steps and undos act on: reached, nothing is warned; unreached, each is named', async () => {
    // Pinned to exactly the declared patterns, a step acting on any other would fail NOT_FOUND.
    const logger = quietLogger()
    const pinned = checkoutService({ engine: createMemoryEngine(), retry: { attempts: 1, backoffMs: 5 } }).create({
      logger,
    })
    pinned.client(memory(), checkoutActs)
    const short = quietLogger()
    const unshipped = checkoutService({ engine: createMemoryEngine() }).create({ logger: short })
    unshipped.client(memory(), [participants.inventory, participants.payment])
    const stepWarnings = (l: typeof logger) =>
      l.entries.filter((e) => e.level === 'warn' && e.message.startsWith('saga ')).map((e) => e.message)
    try {
      await Promise.all([pinned.ready(), unshipped.ready()])
      const started = (await pinned.act('role:checkout,cmd:place', {
        orderId: `${run}-pinned`,
        sku: 'book',
        quantity: 1,
        amount: 5,
        fail: 'shipping',
      })) as { id: string }
      const st = await pinned.handleOf(sagas).settled(started.id)
      expect(st?.state).to.equal('compensated')
      expect(st && steps(st)).to.deep.equal([
        'reserve:done',
        'charge:done',
        'ship:failed',
        'undo:ship:done',
        'undo:charge:done',
        'undo:reserve:done',
      ])
      expect(stepWarnings(logger)).to.deep.equal([])
      expect(stepWarnings(short)).to.deep.equal(
        ['cmd:ship,role:shipping', 'cmd:cancel,role:shipping'].map(
          (p) =>
            `saga "cmd:place,role:checkout" has a step acting on "${p}", which no action of "checkout" and no client answers: the step would fail NOT_FOUND`,
        ),
      )
    } finally {
      await pinned.close()
      await unshipped.close()
    }
  })

  it('a repeated trigger makes no second run, and a bad order starts none', async () => {
    const before = await stock()
    const again = await place(`${run}-ok`)
    expect(again.state).to.equal('completed')
    expect(await stock()).to.equal(before)
    const err = await checkout
      .act('role:checkout,cmd:place', { orderId: 'x', sku: 'book', quantity: 0 })
      .catch((e: unknown) => e)
    expect(err).to.have.property('code', 'INVALID_MESSAGE')
  })
})
