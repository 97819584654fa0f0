import { expect } from 'chai'
import type { Clock, Timer } from '../../actions/index.js'
import { createStoa } from '../../actions/index.js'
import { quietLogger } from '../helpers/wait.js'

/** A clock moved by hand: its timers fire only in `advance`, its deferred work at each turn's end. */
function handClock(start: number) {
  let now = start
  let timers: { at: number; fn: () => void }[] = []
  const clock: Clock & { advance(ms: number): void } = {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + ms, fn }
      timers.push(t)
      return { t, ref: () => undefined, unref: () => undefined } as Timer
    },
    clearTimer(timer) {
      timers = timers.filter((t) => t !== (timer as unknown as { t: unknown }).t)
    },
    defer: (fn) => setImmediate(fn),
    advance(ms) {
      now += ms
      for (const t of timers.filter((x) => x.at <= now)) {
        timers = timers.filter((x) => x !== t)
        t.fn()
      }
    },
  }
  return clock
}

const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('kernel: the clock option', () => {
  it('expires a call at its deadline when the given clock reaches it, not the real one', async () => {
    const clock = handClock(5_000_000)
    const stoa = createStoa({ name: 'clocked', clock, timeoutMs: 600_000, logger: quietLogger() })
    let left = -1
    stoa.add('role:slow', (_msg, ctx) => {
      left = ctx.remainingMs
      return new Promise(() => undefined)
    })
    await stoa.ready()
    let outcome = 'pending'
    stoa.act('role:slow').then(
      () => (outcome = 'ok'),
      (err: { code: string }) => (outcome = err.code),
    )
    await turn()
    expect(left).to.equal(600_000)
    clock.advance(599_000)
    await turn()
    expect(outcome).to.equal('pending')
    clock.advance(2_000)
    await turn()
    expect(outcome).to.equal('TIMEOUT')
    await stoa.close()
  })

  it("reads a nested call's deadline and an arriving task's from the given clock", async () => {
    const clock = handClock(1_000)
    const stoa = createStoa({ name: 'clocked', clock, logger: quietLogger() })
    let nested = -1
    stoa.add('role:inner', (_msg, ctx) => ({ deadline: ctx.deadline }))
    stoa.add('role:outer', async (_msg, ctx) => {
      nested = ((await ctx.act('role:inner', {}, { timeoutMs: 50 })) as { deadline: number }).deadline
      return nested
    })
    await stoa.ready()
    await stoa.act('role:outer')
    expect(nested).to.equal(1_050)
    await stoa.close()
  })
})
