import type { Reply } from './envelope.js'
import type { StoaErrorJSON } from './errors.js'
import { ERRORS, isErrorCode } from './errors.js'

/** What a broker transport does with a task or event after a try. */
export type RetryOutcome =
  /** It succeeded: acknowledge it. */
  | { do: 'ack' }
  /** This instance is closing: hand it back at once for another instance, not counted as a try. */
  | { do: 'requeue' }
  /** Try again after `delayMs`; `attempt` tries will then have been made. */
  | { do: 'retry'; attempt: number; delayMs: number }
  /** Give up: to the dead-letter queue or stream with the error and the number of tries. */
  | { do: 'dead-letter'; error: StoaErrorJSON; attempts: number }

/** How many tries a task or event gets, and the delay after each failed one. */
export interface RetryPolicy {
  readonly attempts: number
  /** Entry `i` is the delay after try `i + 1` failed (see {@link backoffDelays}). */
  readonly delays: readonly number[]
}

/**
 * The delays between tries: `backoffMs`, doubling per try, at most `maxBackoffMs`; entry `i`
 * follows try `i + 1`, so `attempts` tries have `attempts - 1` delays.
 *
 * @example
 * const policy: RetryPolicy = { attempts: 5, delays: backoffDelays(5, 1000, 60_000) } // 1 s, 2 s, 4 s, 8 s
 */
export function backoffDelays(attempts: number, backoffMs: number, maxBackoffMs: number): number[] {
  const out: number[] = []
  for (let i = 0; i < attempts - 1; i++) out.push(Math.min(maxBackoffMs, backoffMs * 2 ** i))
  return out
}

/**
 * The fate of a task or event after a try, the one rule every broker transport follows. `made`
 * counts the tries with this one. The kernel's error table (`ERRORS[code].retryable`) says
 * whether an error may pass on a later try (a timeout, a failing action) or never will (no
 * handler, an invalid message): the latter are poison and are dead-lettered at once, so they
 * never loop; a code the table does not know is not retried either. `refused` says the instance
 * turned the work down because it is closing: not a try at all.
 *
 * @example
 * // The second try of a task failed with reply.error; two more tries are allowed.
 * const outcome = decideRetry(reply.error, 2, { attempts: 4, delays: backoffDelays(4, 1000, 30_000) })
 * if (outcome.do === 'retry') log.info({ delayMs: outcome.delayMs }, 'tried again later')
 */
export function decideRetry(
  error: StoaErrorJSON | undefined,
  made: number,
  policy: RetryPolicy,
  refused = false,
): RetryOutcome {
  if (error === undefined) return { do: 'ack' }
  if (refused) return { do: 'requeue' }
  if (isErrorCode(error.code) && ERRORS[error.code].retryable && made < policy.attempts) {
    const delays = policy.delays
    return { do: 'retry', attempt: made, delayMs: delays[made - 1] ?? delays[delays.length - 1] ?? 0 }
  }
  return { do: 'dead-letter', error, attempts: made }
}

/**
 * The error of a task or event a bulkhead turned down (an `OVERLOADED` naming its `bulkhead`),
 * as opposed to an action that itself answered `OVERLOADED`, a failure like any other. A broker
 * transport holds such work back for the wait it asks (`retryAfterMs`) rather than count a try.
 *
 * @example
 * const busy = bulkheadRefusal(reply)
 * if (busy !== undefined) log.info({ waitMs: busy.details?.retryAfterMs }, 'held back, not counted as a try')
 */
export function bulkheadRefusal(reply: Reply): StoaErrorJSON | undefined {
  return !reply.ok && reply.error.code === 'OVERLOADED' && typeof reply.error.details?.bulkhead === 'string'
    ? reply.error
    : undefined
}
