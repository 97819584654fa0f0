import { StoaError } from './errors.js'
import type { Linked } from './inflight.js'
import { InFlight } from './inflight.js'

/** A timer as {@link Clock} makes it: node's `Timeout` fits. */
export interface Timer {
  ref(): unknown
  unref(): unknown
}

/** Where stoa reads the time and sets its timers for deadlines; a test passes its own. */
export interface Clock {
  now(): number
  setTimer(fn: () => void, ms: number): Timer
  clearTimer(timer: Timer): void
  /** Runs `fn` once the current turn of the event loop has ended. */
  defer(fn: () => void): void
}

/** The process's clock: `Date.now`, `setTimeout`, `setImmediate`. */
export const systemClock: Clock = {
  now: Date.now,
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
  defer: (fn) => setImmediate(fn),
}

/** A call waiting on an asynchronous result, watched for its deadline. */
interface Pending extends Linked<Pending> {
  readonly deadline: number
  readonly key: string
  readonly reject: (err: StoaError) => void
}

/** Calls in one event-loop turn between two reads of the clock (see `now()`). */
const CLOCK_EVERY = 32
/** The longest delay setTimeout keeps: 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The calls in flight and their deadlines. One timer serves every pending call: it is set for
 * the earliest deadline and only re-armed when an earlier one arrives, so a call costs no
 * timer of its own. While nothing is in flight the timer does not keep the process alive.
 *
 * @example
 * const deadlines = new Deadlines()
 * const out = await deadlines.watch(fetchSomething(), deadlines.now() + 1000, 'role:x', toStoaError, undefined)
 */
export class Deadlines {
  private readonly clock: Clock
  private readonly pending = new InFlight<Pending>()
  private timer: Timer | undefined
  private timerAt = Infinity
  private timerRefed = false
  private turnStart = 0
  private turnCalls = 0
  private inTurn = false
  private drained: (() => void) | undefined

  constructor(clock: Clock = systemClock) {
    this.clock = clock
  }

  /** How many calls are in flight. */
  get size(): number {
    return this.pending.size
  }

  /**
   * The time calls made now count their deadline from: the clock is read once per turn of the
   * event loop and then once every {@link CLOCK_EVERY} calls, not on every call (a clock read
   * costs ~60 ns here, a quarter of an asynchronous in-process call). A turn can run long
   * without ever yielding (a batch job awaiting action after action, all microtasks): were the
   * clock read once per turn, every call in it would inherit a deadline that passed long ago.
   * A deadline can so start early by at most the time the last few calls took; the sweep
   * itself reads the exact clock.
   */
  now(): number {
    if (!this.inTurn) {
      this.turnStart = this.clock.now()
      this.turnCalls = 0
      this.inTurn = true
      this.clock.defer(this.endTurn)
    } else if (++this.turnCalls >= CLOCK_EVERY) {
      this.turnStart = this.clock.now()
      this.turnCalls = 0
    }
    return this.turnStart
  }

  /**
   * Resolves with `result`, or rejects with `TIMEOUT` at `deadline`, whichever comes first.
   * A rejection of `result` goes through `failure(err, arg)`, which turns it into the caller's
   * error (one function for every call, so watching allocates no closure of its own).
   */
  watch<A>(
    result: PromiseLike<unknown>,
    deadline: number,
    key: string,
    failure: (err: unknown, arg: A) => StoaError,
    arg: A,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: Pending = { deadline, key, reject, prev: undefined, next: undefined, linked: false }
      const pending = this.pending
      if (!this.timerRefed && this.timer !== undefined) {
        this.timer.ref()
        this.timerRefed = true
      }
      pending.add(call)
      // Negated so that a NaN deadline arms the timer too: the sweep then expires it.
      if (!(deadline >= this.timerAt)) this.arm(deadline)
      try {
        result.then(
          (value) => {
            if (pending.delete(call)) {
              resolve(value)
              if (pending.size === 0) this.idle()
            }
          },
          (err) => {
            if (pending.delete(call)) {
              reject(failure(err, arg))
              if (pending.size === 0) this.idle()
            }
          },
        )
      } catch (err) {
        // A thenable's own `then` may throw, before or after settling: as with a promise
        // resolved to it, a throw after the first settlement is ignored.
        if (pending.delete(call)) {
          reject(failure(err, arg))
          if (pending.size === 0) this.idle()
        }
      }
    })
  }

  /** Waits until nothing is in flight, or `graceMs` has passed; resolves with what is left. */
  async drain(graceMs: number): Promise<number> {
    if (this.pending.size === 0) return 0
    let timer: Timer | undefined
    await new Promise<void>((resolve) => {
      this.drained = () => {
        if (this.pending.size === 0) resolve()
      }
      timer = this.clock.setTimer(resolve, graceMs)
    })
    if (timer !== undefined) this.clock.clearTimer(timer)
    this.drained = undefined
    return this.pending.size
  }

  /** Fails every call still in flight with `err` and stops the timer. */
  stop(err: StoaError): void {
    for (const call of this.pending) call.reject(err)
    this.pending.clear()
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    this.timerRefed = false
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    // A NaN deadline is due now; -Infinity keeps later calls from re-arming until the sweep.
    const due = Number.isNaN(at) ? -Number.POSITIVE_INFINITY : at
    this.timerAt = due
    // setTimeout takes at most 2^31-1 ms (24.8 days) and fires after 1 ms past that, so a far
    // deadline (a caller may send any budget) is reached in steps: each sweep re-arms for it.
    this.timer = this.clock.setTimer(
      () => this.sweep(),
      Math.min(MAX_TIMER_MS, Math.max(0, due - this.clock.now()) + 1),
    )
    this.timerRefed = true
  }

  /**
   * End of a turn: forget its start time, and if nothing is in flight let the process exit
   * despite the deadline timer. Doing this once per turn instead of on every idle moment
   * keeps a sequential run of calls from toggling the timer's ref count on each one.
   */
  private readonly endTurn = (): void => {
    this.inTurn = false
    if (this.pending.size === 0 && this.timer !== undefined && this.timerRefed) {
      this.timer.unref()
      this.timerRefed = false
    }
  }

  private sweep(): void {
    this.timer = undefined
    this.timerRefed = false
    this.timerAt = Infinity
    const now = this.clock.now()
    let next = Infinity
    for (const call of this.pending) {
      // Negated so that a NaN deadline counts as passed rather than as never.
      if (!(call.deadline > now)) {
        this.pending.delete(call)
        call.reject(timeoutError(call.key))
      } else if (call.deadline < next) next = call.deadline
    }
    if (next !== Infinity) this.arm(next)
    else this.idle()
  }

  /** Nothing in flight: let the process exit if it has nothing else to do, and wake drain(). */
  private idle(): void {
    if (this.timerRefed) this.now()
    this.drained?.()
  }
}

/** The error of a call whose deadline passed. */
export function timeoutError(key: string): StoaError {
  return new StoaError('TIMEOUT', `"${key}" did not finish before its deadline`, { pattern: key })
}

/**
 * The time limit a call option asks for, or undefined when it gives none that can be kept: a
 * value that is not a finite number (NaN, Infinity, a string) would leave the call with no
 * deadline at all, so it counts as absent and the default applies. Zero and less are kept: the
 * deadline has passed, and the call is answered `TIMEOUT`.
 *
 * @example
 * callTimeoutMs(Number.NaN) ?? 30_000 // 30000
 */
export function callTimeoutMs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/**
 * Checks a configured time limit (an instance's or an action's `timeoutMs`, `graceMs`) where it
 * is set, so no call ever runs without a deadline: a finite number of ms, above 0 (`graceMs`
 * may be 0: close without waiting). Throws `INVALID_OPTIONS` naming the option otherwise.
 *
 * @example
 * checkTimeout(options.timeoutMs, 'timeoutMs', 'stoa')
 */
export function checkTimeout(value: unknown, option: string, owner: string, zero = false): void {
  if (value === undefined) return
  if (typeof value === 'number' && Number.isFinite(value) && (value > 0 || (zero && value === 0))) return
  throw new StoaError(
    'INVALID_OPTIONS',
    `${owner}: option "${option}" must be a finite number of ms${zero ? ', 0 or more' : ' above 0'}`,
    { option, fields: [option] },
  )
}
