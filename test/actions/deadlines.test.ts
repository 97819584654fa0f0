import { expect } from 'chai'
import type { Clock, Timer } from '../../actions/deadlines.js'
import { Deadlines } from '../../actions/deadlines.js'
import { StoaError, toStoaError } from '../../actions/errors.js'

/** A clock the test moves by hand: timers fire only in `advance`. */
function fakeClock() {
  let now = 1_000_000
  let timers: { at: number; fn: () => void; refed: boolean }[] = []
  const deferred: (() => void)[] = []
  const clock: Clock & { advance(ms: number): void; endTurn(): void; timers(): typeof timers } = {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + ms, fn, refed: true }
      timers.push(t)
      const timer: Timer & { t: typeof t } = {
        t,
        ref: () => (t.refed = true),
        unref: () => (t.refed = false),
      }
      return timer
    },
    clearTimer(timer) {
      timers = timers.filter((t) => t !== (timer as unknown as { t: unknown }).t)
    },
    defer: (fn) => deferred.push(fn),
    advance(ms) {
      now += ms
      for (const t of timers.filter((x) => x.at <= now)) {
        timers = timers.filter((x) => x !== t)
        t.fn()
      }
    },
    endTurn() {
      for (const fn of deferred.splice(0)) fn()
    },
    timers: () => timers,
  }
  return clock
}

const settle = () => new Promise((r) => setImmediate(r))

describe('Deadlines', () => {
  it('rejects TIMEOUT at the deadline when the result is late', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    const watched = d.watch(new Promise(() => undefined), clock.now() + 100, 'role:slow', toStoaError, undefined)
    let outcome: unknown
    watched.catch((e: unknown) => (outcome = e))
    clock.advance(50)
    await settle()
    expect(outcome).to.equal(undefined)
    clock.advance(51)
    await settle()
    expect(outcome).to.be.instanceOf(StoaError)
    expect((outcome as StoaError).code).to.equal('TIMEOUT')
    expect(d.size).to.equal(0)
  })

  it('keeps one timer for many calls, set for the earliest deadline', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    const never = new Promise(() => undefined)
    for (const ms of [500, 300, 900])
      d.watch(never, clock.now() + ms, 'x', toStoaError, undefined).catch(() => undefined)
    expect(clock.timers()).to.have.length(1)
    expect(clock.timers()[0]!.at).to.equal(clock.now() + 301)
    clock.advance(301)
    await settle()
    expect(d.size).to.equal(2)
    expect(clock.timers()[0]!.at).to.equal(clock.now() + 200)
  })

  it("resolves with the result and passes a failure through the caller's function", async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    expect(await d.watch(Promise.resolve(7), clock.now() + 10, 'x', toStoaError, undefined)).to.equal(7)
    const err = await d
      .watch(
        Promise.reject(new Error('boom')),
        clock.now() + 10,
        'x',
        (_e, arg: string) => new StoaError('ACTION_FAILED', arg),
        'mapped',
      )
      .catch((e: unknown) => e)
    expect((err as StoaError).message).to.equal('mapped')
  })

  it('lets the timer stop holding the process once a turn ends with nothing in flight', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    await d.watch(Promise.resolve(1), d.now() + 1000, 'x', toStoaError, undefined)
    expect(clock.timers()[0]!.refed).to.equal(true)
    clock.endTurn()
    expect(clock.timers()[0]!.refed).to.equal(false)
  })

  it('drains: waits for work in flight up to the grace period, then reports what is left', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    let finish!: () => void
    d.watch(new Promise<void>((r) => (finish = r)), clock.now() + 60_000, 'x', toStoaError, undefined).catch(
      () => undefined,
    )
    const drained = d.drain(1000)
    finish()
    expect(await drained).to.equal(0)
    d.watch(new Promise(() => undefined), clock.now() + 60_000, 'y', toStoaError, undefined).catch(() => undefined)
    const late = d.drain(1000)
    clock.advance(1000)
    expect(await late).to.equal(1)
    d.stop(new StoaError('CLOSED', 'closed'))
    expect(d.size).to.equal(0)
    expect(clock.timers()).to.have.length(0)
  })

  it('expires a NaN deadline at the next sweep instead of never', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    const watched = d.watch(new Promise(() => undefined), Number.NaN, 'role:odd', toStoaError, undefined)
    let outcome: unknown
    watched.catch((e: unknown) => (outcome = e))
    clock.advance(1)
    await settle()
    expect((outcome as StoaError | undefined)?.code).to.equal('TIMEOUT')
    expect(d.size).to.equal(0)
  })

  it('expires a NaN deadline watched beside a later one, and still keeps the later one', async () => {
    const clock = fakeClock()
    const d = new Deadlines(clock)
    const later = d.watch(new Promise(() => undefined), clock.now() + 100, 'role:later', toStoaError, undefined)
    const odd = d.watch(new Promise(() => undefined), Number.NaN, 'role:odd', toStoaError, undefined)
    const seen: string[] = []
    later.catch(() => seen.push('later'))
    odd.catch(() => seen.push('odd'))
    clock.advance(1)
    await settle()
    expect(seen).to.deep.equal(['odd'])
    clock.advance(100)
    await settle()
    expect(seen).to.deep.equal(['odd', 'later'])
  })

  it("passes a thenable's throwing then through the failure function, once", async () => {
    const d = new Deadlines(fakeClock())
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
      then() {
        throw new Error('then blew up')
      },
    }
    const err = await d.watch(thenable, Number.POSITIVE_INFINITY, 'role:bad', toStoaError, undefined).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as StoaError).code).to.equal('ACTION_FAILED')
    expect(d.size).to.equal(0)
  })
})
