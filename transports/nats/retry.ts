import type { ErrorCode, StoaErrorJSON } from '../../actions/transport.js'
import { ERRORS } from '../../actions/transport.js'

/** What to do with a task or event after a try. */
export type Outcome =
  /** It succeeded: acknowledge it. */
  | { do: 'ack' }
  /** This instance is closing: hand it back at once for another instance. */
  | { do: 'requeue' }
  /** Hand it back to JetStream to be delivered again after `delayMs`. */
  | { do: 'retry'; attempt: number; delayMs: number }
  /** Give up: to the dead-letter stream with the error and the number of tries. */
  | { do: 'dead-letter'; error: StoaErrorJSON; attempts: number }

/** How many tries, and the delay after each failed one. */
export interface RetryPolicy {
  readonly attempts: number
  /** Entry `i` is the delay after try `i + 1` failed. */
  readonly delays: readonly number[]
}

/**
 * The fate of a task or event after a try, `made` tries counted with this one (JetStream's
 * delivery count, so a try cut short by a crash counts too: a message that kills every
 * instance that takes it ends in the dead-letter stream instead of looping). Errors the table
 * marks as never passing on a later try (no handler, an invalid message) are poison and go to
 * the dead-letter stream at once.
 */
export function decide(error: StoaErrorJSON | undefined, made: number, policy: RetryPolicy, refused = false): Outcome {
  if (error === undefined) return { do: 'ack' }
  if (refused) return { do: 'requeue' }
  if (ERRORS[error.code as ErrorCode]?.retryable === true && made < policy.attempts) {
    const delays = policy.delays
    return { do: 'retry', attempt: made, delayMs: delays[made - 1] ?? delays[delays.length - 1] ?? 0 }
  }
  return { do: 'dead-letter', error, attempts: made }
}

/** `backoffMs`, doubling per try, at most `maxBackoffMs`: entry `i` follows try `i + 1`. */
export function backoffDelays(attempts: number, backoffMs: number, maxBackoffMs: number): number[] {
  return Array.from({ length: Math.max(0, attempts - 1) }, (_, i) => Math.min(maxBackoffMs, backoffMs * 2 ** i))
}
