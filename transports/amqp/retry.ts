import type { ErrorCode, StoaErrorJSON } from '../../actions/transport.js'
import { ERRORS } from '../../actions/transport.js'

/** What to do with a task or event after a try. */
export type Outcome =
  /** It succeeded: acknowledge it. */
  | { do: 'ack' }
  /** This instance is closing: give it back to the queue for another instance, not counted as a try. */
  | { do: 'requeue' }
  /** Try again after `delayMs`; `attempt` tries will then have been made. */
  | { do: 'retry'; attempt: number; delayMs: number }
  /** Give up: to the dead-letter queue with the error and the number of tries. */
  | { do: 'dead-letter'; error: StoaErrorJSON; attempts: number }

/** The retry policy: how many tries, and the delay after each failed one. */
export interface RetryPolicy {
  readonly attempts: number
  /** Entry `i` is the delay after try `i + 1` failed (see `backoffDelays`). */
  readonly delays: readonly number[]
}

/**
 * Decides the fate of a task or event after a try. `previous` is the number of tries made
 * before this one. The kernel's error table (`ERRORS[code].retryable`) decides whether an error may pass if tried
 * later (a timeout, a failing action) or never will (no handler, an invalid message): the
 * latter are poison and go to the dead-letter queue at once, so they never loop. `refused`
 * says the instance turned the work down because it is closing: not a try at all.
 */
export function decide(
  error: StoaErrorJSON | undefined,
  previous: number,
  policy: RetryPolicy,
  refused = false,
): Outcome {
  if (error === undefined) return { do: 'ack' }
  if (refused) return { do: 'requeue' }
  const made = previous + 1
  if (isRetryable(error.code) && made < policy.attempts) {
    return {
      do: 'retry',
      attempt: made,
      delayMs: policy.delays[made - 1] ?? policy.delays[policy.delays.length - 1] ?? 0,
    }
  }
  return { do: 'dead-letter', error, attempts: made }
}

function isRetryable(code: ErrorCode): boolean {
  return ERRORS[code].retryable
}
