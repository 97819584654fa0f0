import type { Context, RunAction } from '../../actions/index.js'
import { runNext, StoaError } from '../../actions/index.js'

/** A caller waiting for a turn. */
interface Waiter {
  readonly start: () => void
  readonly ctx: Context
  readonly reject: (err: StoaError) => void
}

/**
 * One bulkhead: at most `concurrency` calls run, at most `queue` wait, first in first out; any
 * more are refused with `OVERLOADED` at once, so a flood costs the caller one fast refusal
 * rather than a slow death for everyone. A waiter whose deadline has passed when its turn
 * comes is dropped with `TIMEOUT` instead of run: its caller has given up.
 */
export class Gate {
  running = 0
  private readonly waiting: Waiter[] = []
  private head = 0

  constructor(
    readonly name: string,
    readonly concurrency: number,
    readonly queue: number,
    private readonly retryAfterMs: number,
  ) {}

  /** How many calls wait for a turn. */
  get queued(): number {
    return this.waiting.length - this.head
  }

  /** `next` inside the bulkhead: runs it now, after a wait, or refuses. */
  wrap(next: RunAction): RunAction {
    return (msg, ctx) => {
      if (this.running < this.concurrency) {
        this.running++
        return this.run(next, msg, ctx)
      }
      if (this.queued >= this.queue) throw this.overloaded()
      return new Promise((resolve, reject) => {
        this.waiting.push({
          ctx,
          reject,
          start: () => {
            // The turn was handed over with `running` already counted for this call.
            Promise.resolve(this.run(next, msg, ctx)).then(resolve, reject)
          },
        })
      })
    }
  }

  private run(next: RunAction, msg: Parameters<RunAction>[0], ctx: Context): unknown {
    return runNext(next, msg, ctx, this, released, releasedFailing)
  }

  /** A call ended: hand its turn to the first waiter still worth running. */
  release(): void {
    while (this.head < this.waiting.length) {
      const w = this.waiting[this.head]!
      this.waiting[this.head++] = undefined as unknown as Waiter
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head)
        this.head = 0
      }
      if (w.ctx.remainingMs === 0) {
        w.reject(new StoaError('TIMEOUT', `"${this.name}" waited for a turn past its deadline`))
        continue
      }
      // `running` stays the same: the turn passes from the call that ended to this one.
      w.start()
      return
    }
    this.running--
  }

  private overloaded(): StoaError {
    return new StoaError(
      'OVERLOADED',
      `"${this.name}" is at its limit: ${this.concurrency} running, ${this.queue} waiting`,
      {
        bulkhead: this.name,
        concurrency: this.concurrency,
        queue: this.queue,
        retryAfterMs: this.retryAfterMs,
      },
    )
  }
}

/** For runNext: a call of `gate` ended well; its turn passes on. Made once, not per call. */
function released(out: unknown, _msg: unknown, _ctx: unknown, gate: Gate): unknown {
  gate.release()
  return out
}

/** For runNext: a call of `gate` failed; its turn passes on all the same. */
function releasedFailing(err: unknown, _msg: unknown, _ctx: unknown, gate: Gate): never {
  gate.release()
  throw err
}
