import type { ErrorCode } from '../actions/index.js'
import { ERRORS } from '../actions/index.js'

/** The command did what was asked. */
export const EXIT_OK = 0
/** The command ran and failed: a `StoaError`, printed as `CODE: message`. */
export const EXIT_FAILURE = 1
/** The command line itself was wrong; nothing ran. */
export const EXIT_USAGE = 2

/** The exit code for each error code, from the kernel's error table. */
export const exitCodes: Readonly<Record<ErrorCode, number>> = Object.freeze(
  Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, spec.exit])) as Record<ErrorCode, number>,
)
