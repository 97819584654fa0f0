import type { ErrorCode } from '../actions/index.js'

/** The command did what was asked. */
export const EXIT_OK = 0
/** The command ran and failed: a `StoaError`, printed as `CODE: message`. */
export const EXIT_FAILURE = 1
/** The command line itself was wrong; nothing ran. */
export const EXIT_USAGE = 2

/**
 * The exit code for each error code. Every failure exits 1 today, so that a cron or a workflow
 * engine needs to test only for non-zero; the record is exhaustive by type so that a new code
 * cannot ship without deciding its exit code, as `retryable` does for retries.
 */
export const exitCodes: Readonly<Record<ErrorCode, number>> = {
  NOT_FOUND: EXIT_FAILURE,
  INVALID_MESSAGE: EXIT_FAILURE,
  INVALID_NAME: EXIT_FAILURE,
  INVALID_PATTERN: EXIT_FAILURE,
  INVALID_OPTIONS: EXIT_FAILURE,
  INVALID_PLUGIN: EXIT_FAILURE,
  TIMEOUT: EXIT_FAILURE,
  UNAUTHENTICATED: EXIT_FAILURE,
  FORBIDDEN: EXIT_FAILURE,
  UNAVAILABLE: EXIT_FAILURE,
  OVERLOADED: EXIT_FAILURE,
  CLOSED: EXIT_FAILURE,
  INVALID_JSON: EXIT_FAILURE,
  PAYLOAD_TOO_LARGE: EXIT_FAILURE,
  UNSUPPORTED_MEDIA_TYPE: EXIT_FAILURE,
  ACTION_FAILED: EXIT_FAILURE,
}
