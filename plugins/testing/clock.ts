import type { Clock, Timer } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'

/** A virtual timer: due at `at`, run in `seq` order among timers due at the same time. */
interface VirtualTimer extends Timer {
  readonly at: number
  readonly seq: number
  readonly fn: () => void
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration in ms, from a number of ms or a string of one or more amounts with units:
 * `'250ms'`, `'5s'`, `'10m'`, `'1h30m'`, `'2d'`. Anything else is `INVALID_OPTIONS`.
 *
 * @example
 * durationMs('10m') // 600000
 */
export function durationMs(duration: number | string): number {
  if (typeof duration === 'number') {
    if (Number.isFinite(duration) && duration >= 0) return duration
  } else {
    const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
    if (parts.length > 0 && parts.map((p) => p[0]).join('') === duration.replace(/\s+/g, ''))
      return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0)
  }
  throw new StoaError('INVALID_OPTIONS', `"${String(duration)}" is no duration: a number of ms, or like "250ms", "10m"`)
}

/** Lets the promise callbacks and I/O callbacks already due run: one turn of the real event loop. */
export function realTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * A clock that only moves when told: `advance('10m')` runs every timer due in those ten
 * minutes, in time order, with `now()` at each timer's own time, and lets the work each one
 * starts run before the next fires. Pass it to `createStoa({ clock })` (the harness does) and
 * deadlines, the simulated broker's retries and backoff, and a plugin's own timers (`sleep`,
 * `setTimer`) all follow it, so a test of a ten-minute retry takes milliseconds.
 *
 * @example
 * const clock = new VirtualClock()
 * const stoa = createStoa({ name: 'orders', clock })
 * await clock.advance('10m')
 */
export class VirtualClock implements Clock {
  private time: number
  private seq = 0
  private timers: VirtualTimer[] = []
  private deferred: (() => void)[] = []
  private flushing = false

  /** @param start the time the clock starts at, ms since the epoch (default 1 Jan 2030, UTC). */
  constructor(start = Date.UTC(2030, 0, 1)) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimer(fn: () => void, ms: number): Timer {
    const timer: VirtualTimer = {
      at: this.time + Math.max(0, Number.isFinite(ms) ? ms : 0),
      seq: this.seq++,
      fn,
      ref: () => timer,
      unref: () => timer,
    }
    this.timers.push(timer)
    return timer
  }

  clearTimer(timer: Timer): void {
    const i = this.timers.indexOf(timer as VirtualTimer)
    if (i >= 0) this.timers.splice(i, 1)
  }

  /**
   * Runs `fn` once the current turn has ended: at the real event loop's next turn, or when the
   * clock next moves, whichever is first (a turn ends before time passes, so a deadline never
   * counts from a time read before an `advance`).
   */
  defer(fn: () => void): void {
    this.deferred.push(fn)
    if (!this.flushing) {
      this.flushing = true
      setImmediate(() => this.flush())
    }
  }

  /** Resolves after `duration` of virtual time, once the clock has been moved that far. */
  sleep(duration: number | string): Promise<void> {
    const ms = durationMs(duration)
    return new Promise((resolve) => this.setTimer(resolve, ms))
  }

  /** How many timers are set. */
  get pending(): number {
    return this.timers.length
  }

  /** When the next timer is due, or undefined when none is set. */
  nextAt(): number | undefined {
    return this.next()?.at
  }

  /**
   * Moves the clock forward by `duration`, running each timer due on the way at its own time,
   * and the work it starts (promise callbacks) before the next one.
   */
  async advance(duration: number | string): Promise<void> {
    const until = this.time + durationMs(duration)
    for (;;) {
      const t = this.next()
      if (t === undefined || t.at > until) break
      this.fire(t)
      await realTurn()
    }
    this.flush()
    this.time = until
    await realTurn()
  }

  /** Moves the clock to the next timer and runs it; false when none is set. */
  fireNext(): boolean {
    const t = this.next()
    if (t === undefined) return false
    this.fire(t)
    return true
  }

  private fire(t: VirtualTimer): void {
    this.flush()
    this.clearTimer(t)
    if (t.at > this.time) this.time = t.at
    t.fn()
  }

  private next(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined
    for (const t of this.timers)
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }

  private flush(): void {
    this.flushing = false
    for (const fn of this.deferred.splice(0)) fn()
  }
}
