import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createHarness, durationMs, expectCode, VirtualClock } from '../../../plugins/testing/index.js'

/** A worker that records each task it handles and fails the first `failFirst` tries of each. */
function worker(failFirst = 0, code: 'UNAVAILABLE' | 'INVALID_MESSAGE' = 'UNAVAILABLE') {
  const handled: string[] = []
  const tries = new Map<string, number>()
  const make = (o: object) =>
    createStoa({ name: 'work', ...o }).add('task:work.item.make', async (msg, ctx) => {
      const id = String(msg.id)
      const n = (tries.get(id) ?? 0) + 1
      tries.set(id, n)
      if (n <= failFirst) throw new StoaError(code, `try ${n} fails`)
      handled.push(id)
      await ctx.emit('item.made', { id })
    })
  return { make, handled, tries }
}

describe('stoa/testing: the virtual clock', () => {
  it('reads durations in ms, s, m, h and d, and refuses anything else', () => {
    expect(durationMs('10m')).to.equal(600_000)
    expect(durationMs('1h30m')).to.equal(5_400_000)
    expect(durationMs(250)).to.equal(250)
    expect(() => durationMs('soon')).to.throw(StoaError, /no duration/)
  })

  it('fires timers in time order, each at its own time, only when advanced', async () => {
    const clock = new VirtualClock(0)
    const seen: [string, number][] = []
    clock.setTimer(() => seen.push(['b', clock.now()]), 2000)
    clock.setTimer(() => seen.push(['a', clock.now()]), 1000)
    const slept = clock.sleep('5s').then(() => seen.push(['sleep', clock.now()]))
    await clock.advance(1500)
    expect(seen).to.deep.equal([['a', 1000]])
    await clock.advance('10s')
    await slept
    expect(seen).to.deep.equal([
      ['a', 1000],
      ['b', 2000],
      ['sleep', 5000],
    ])
    expect(clock.now()).to.equal(11_500)
  })
})

describe('stoa/testing: the harness', function () {
  this.timeout(20_000)

  it('calls an action and asserts on its result or its error code', async () => {
    const h = createHarness()
    await h.start((o) =>
      createStoa({ name: 'math', ...o }).add('role:math,cmd:sum', (msg) => {
        if (typeof msg.left !== 'number') throw new StoaError('INVALID_MESSAGE', 'left must be a number')
        return { answer: msg.left + Number(msg.right) }
      }),
    )
    expect(await h.act('role:math,cmd:sum', { left: 1, right: 2 })).to.deep.equal({ answer: 3 })
    const err = await expectCode(h.act('role:math,cmd:sum', { left: 'x' }), 'INVALID_MESSAGE')
    expect(err.message).to.equal('left must be a number')
    await expectCode(h.act('role:nothing'), 'NOT_FOUND')
    let wrong = ''
    await expectCode(h.act('role:math,cmd:sum', { left: 1, right: 1 }), 'NOT_FOUND').catch(
      (e: Error) => (wrong = e.message),
    )
    expect(wrong).to.match(/expected the call to fail with NOT_FOUND, it succeeded with \{"answer":2\}/)
    await h.close()
  })

  it('retries a failing task with backoff on the virtual clock: ten minutes of retries in no time', async () => {
    const w = worker(4)
    const h = createHarness({ policy: { attempts: 5, backoffMs: 60_000, maxBackoffMs: 600_000 } })
    await h.start(w.make)
    await h.send('work.item.make', { id: 'i1' })
    const elapsed = await h.settle()
    expect(w.handled).to.deep.equal(['i1'])
    expect(w.tries.get('i1')).to.equal(5)
    // 1 + 2 + 4 + 8 minutes of backoff went by on the clock.
    expect(elapsed).to.equal(15 * 60_000)
    expect(h.deadLetters).to.deep.equal([])
    await h.close()
  })

  it('waits with settleUntil for work beside the broker, moving the clock until it is done', async () => {
    const w = worker()
    const h = createHarness()
    await h.start(w.make)
    // Published from a timer, outside any delivery, as an outbox relay's sweep publishes.
    h.clock.setTimer(() => void h.send('work.item.make', { id: 'late' }), 5000)
    await h.settle()
    expect(w.handled, 'after settle alone').to.deep.equal([])
    expect(await h.settleUntil(() => w.handled.length === 1)).to.equal(5000)
    expect(w.handled).to.deep.equal(['late'])
    const err = await expectCode(
      h.settleUntil(() => false, { within: '1m' }),
      'TIMEOUT',
    )
    expect(err.message).to.match(/not done after 60000 ms of virtual time/)
    await h.close()
  })

  it('dead-letters a task that never passes: at once for a poison error, after the last try for a retryable one', async () => {
    const poison = worker(99, 'INVALID_MESSAGE')
    const h = createHarness()
    await h.start(poison.make)
    await h.send('work.item.make', { id: 'p' })
    await h.settle()
    expect(h.deadLetters.map((d) => [d.name, d.error.code, d.attempts])).to.deep.equal([
      ['work.item.make', 'INVALID_MESSAGE', 1],
    ])
    await h.close()
    const failing = worker(99)
    const h2 = createHarness({ policy: { attempts: 3 } })
    await h2.start(failing.make)
    await h2.send('work.item.make', { id: 'f' })
    await h2.settle()
    expect(h2.deadLetters.map((d) => [d.error.code, d.attempts])).to.deep.equal([['UNAVAILABLE', 3]])
    await h2.close()
  })

  it('crashes a service between its effect and its acknowledgement, restarts it, and delivers the task again', async () => {
    const w = worker()
    const h = createHarness({ faults: [{ fault: 'crash', name: 'work.item.make', times: 1 }] })
    const service = await h.start(w.make)
    await h.send('work.item.make', { id: 'c1' })
    await h.settle()
    expect(w.handled).to.deep.equal(['c1', 'c1'])
    expect(service.starts).to.equal(2)
    expect(service.instances()).to.have.length(1)
    expect(h.trace()).to.match(/work#1 crashed[\s\S]*work#2 joined[\s\S]*acked by work#2/)
    await h.close()
  })

  it('drops a delivery, which comes again after the ack wait; duplicates one, which comes twice', async () => {
    const w = worker()
    const h = createHarness({
      policy: { ackWaitMs: 45_000 },
      faults: [
        { fault: 'drop', pattern: 'id:d', times: 1 },
        { fault: 'duplicate', pattern: 'id:x', times: 1 },
      ],
    })
    await h.start(w.make)
    await h.send('work.item.make', { id: 'd' })
    await h.send('work.item.make', { id: 'x' })
    const elapsed = await h.settle()
    expect(w.handled.sort()).to.deep.equal(['d', 'x', 'x'])
    expect(elapsed).to.equal(45_000)
    await h.close()
  })

  it('loses a confirm: the sender is told the publish failed, the task is delivered all the same', async () => {
    const w = worker()
    const h = createHarness({ faults: [{ fault: 'lose-confirm', kind: 'send', times: 1 }] })
    await h.start(w.make)
    await expectCode(h.send('work.item.make', { id: 'l' }), 'UNAVAILABLE')
    await h.settle()
    expect(w.handled).to.deep.equal(['l'])
    expect(h.sent('work.item.make').map((p) => p.confirmLost)).to.deep.equal([true])
    await h.close()
  })

  it('delays and reorders deliveries', async () => {
    const w = worker()
    const h = createHarness({
      faults: [
        { fault: 'reorder', pattern: 'id:1', times: 1 },
        { fault: 'delay', pattern: 'id:2', delayMs: '3s' },
      ],
    })
    await h.start(w.make)
    for (const id of ['1', '2', '3']) await h.send('work.item.make', { id })
    const elapsed = await h.settle()
    expect(w.handled).to.deep.equal(['3', '1', '2'])
    expect(elapsed).to.equal(3000)
    await h.close()
  })

  it("captures a service's events and tasks, and stubs the remote service it calls", async () => {
    const h = createHarness()
    await h.stub('payments', {
      'role:payments,cmd:charge': (msg) => {
        if (Number(msg.amount) > 100) throw new StoaError('FORBIDDEN', 'over the limit')
        return { charged: msg.amount }
      },
    })
    await h.start(
      (o) =>
        createStoa({ name: 'orders', ...o }).add('role:orders,cmd:place', async (msg, ctx) => {
          const out = await ctx.act('role:payments,cmd:charge', { amount: msg.amount })
          await ctx.emit('order.placed', { amount: msg.amount })
          await ctx.send('shipping.parcel.ship', { amount: msg.amount })
          return out
        }),
      { calls: ['role:payments'] },
    )
    await h.stub('shipping', { 'task:shipping.parcel.ship': () => undefined })
    expect(await h.act('role:orders,cmd:place', { amount: 5 })).to.deep.equal({ charged: 5 })
    await expectCode(h.act('role:orders,cmd:place', { amount: 500 }), 'FORBIDDEN')
    expect(h.emitted('order.placed').map((e) => [e.from, e.data])).to.deep.equal([['orders', { amount: 5 }]])
    expect(h.sent().map((e) => e.name)).to.deep.equal(['shipping.parcel.ship'])
    await h.close()
  })

  it('times a request whose answer is lost out on the virtual clock', async () => {
    const h = createHarness({ faults: [{ fault: 'drop', kind: 'act' }] })
    await h.start((o) => createStoa({ name: 'echo', ...o }).add('role:echo', (msg) => msg))
    let outcome = 'pending'
    const call = h.act('role:echo', { x: 1 }, { timeoutMs: 120_000 }).then(
      () => (outcome = 'ok'),
      (err: StoaError) => (outcome = err.code),
    )
    await h.advance('119s')
    expect(outcome).to.equal('pending')
    await h.advance('2s')
    await call
    expect(outcome).to.equal('TIMEOUT')
    await h.close()
  })

  it('replays the same faults from the same seed, and others from another', async () => {
    const traceOf = async (seed: number) => {
      const w = worker()
      const h = createHarness({ seed, faults: [{ fault: 'duplicate', kind: 'send', rate: 0.5 }] })
      await h.start(w.make)
      for (let i = 0; i < 12; i++) await h.send('work.item.make', { id: `v${i}` })
      await h.settle()
      await h.close()
      return w.handled.join(',')
    }
    const first = await traceOf(11)
    expect(await traceOf(11)).to.equal(first)
    expect(first.split(',').length).to.be.greaterThan(12)
    expect(await traceOf(12)).to.not.equal(first)
  })
})

describe('stoa/testing: crashing after a wrapped effect', function () {
  this.timeout(20_000)

  it('kills the instance right after the effect: the effect stays, the rest of the handler never runs, the task comes again', async () => {
    const committed: string[] = []
    const h = createHarness({ faults: [{ fault: 'crash', effect: 'orders.commit', times: 1 }] })
    await h.start((o) =>
      createStoa({ name: 'orders', ...o }).add('task:orders.order.place', async (msg, ctx) => {
        await o.effect('orders.commit', async () => committed.push(String(msg.id)))
        await ctx.emit('order.placed', { id: msg.id })
      }),
    )
    await h.send('orders.order.place', { id: 'o1' })
    await h.settle()
    expect(committed).to.deep.equal(['o1', 'o1'])
    expect(h.emitted('order.placed')).to.have.length(1)
    expect(h.service('orders').starts).to.equal(2)
    expect(h.trace()).to.match(/orders crashes after the effect orders.commit[\s\S]*orders#1 crashed/)
    await h.close()
  })

  it('leaves an effect alone that no rule names', async () => {
    const h = createHarness({
      faults: [
        { fault: 'crash', effect: 'other' },
        { fault: 'crash', kind: 'act' },
      ],
    })
    let runs = 0
    await h.start((o) =>
      createStoa({ name: 'orders', ...o }).add('task:orders.order.place', () =>
        o.effect('orders.commit', async () => runs++),
      ),
    )
    await h.send('orders.order.place', { id: 'o1' })
    await h.settle()
    expect(runs).to.equal(1)
    await h.close()
  })
})
