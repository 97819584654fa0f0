import type { ErrorCode } from '../actions/index.js'
import { isErrorCode } from '../actions/index.js'
import type { Output } from './io.js'

/**
 * Prints a result as one JSON value: indented on a terminal, one compact line in a pipe, so
 * `stoa act ... | jq` reads it either way. No result prints `null`, so a script always gets
 * exactly one JSON value.
 */
export function writeJson(out: Output, value: unknown): void {
  let text: string | undefined
  try {
    text = JSON.stringify(value === undefined ? null : value, null, out.isTTY === true ? 2 : undefined)
  } catch (err) {
    // A BigInt or a cycle: the action's failure, reported like any other (exit 1).
    throw transportKit().unwritableResult(err)
  }
  out.write(`${text ?? 'null'}\n`)
}

/** A stoa error as the CLI sees it. */
export interface ErrorLike {
  readonly code: ErrorCode
  readonly message: string
  readonly details?: Record<string, unknown> | undefined
  readonly stack?: string | undefined
  readonly cause?: unknown
}

/**
 * Whether `err` is a `StoaError`, judged by shape rather than `instanceof`: a service module
 * imports the kernel from its own path (its source, or its own copy of the package), so its
 * errors come from another copy of the class than the one the CLI loaded.
 */
export function isStoaErrorLike(err: unknown): err is ErrorLike {
  return err instanceof Error && err.name === 'StoaError' && isErrorCode((err as { code?: unknown }).code)
}

/**
 * The transport authors' kit, loaded the first time a result cannot be printed: it holds the
 * HTTP kit too, a third of the kernel's files, which a command that prints its result never needs.
 */
function transportKit(): typeof import('../actions/transport.js') {
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)('../actions/transport.js')
}

/**
 * Prints a failure: `CODE: message` on one line; with `verbose`, the details, the stack and the
 * chain of causes after it. Without it, a failure that has a cause here (`ACTION_FAILED` over a
 * TypeError, a socket error behind `UNAVAILABLE`) says that `--verbose` shows it: the cause's
 * own text may hold what the message was kept clean of, so it is not printed unasked.
 */
export function writeError(out: Output, err: ErrorLike, verbose: boolean): void {
  out.write(`${err.code}: ${err.message}\n`)
  if (!verbose) {
    if (err.cause !== undefined) out.write(CAUSE_HINT)
    return
  }
  if (err.details !== undefined) out.write(`details: ${JSON.stringify(err.details)}\n`)
  writeStack(out, err)
}

/** Prints the stack of an error and of each of its causes. */
export function writeStack(out: Output, err: unknown): void {
  let e: unknown = err
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    out.write(`${depth === 0 ? '' : 'caused by: '}${e.stack ?? `${e.name}: ${e.message}`}\n`)
    e = e.cause
  }
}

/** The line after a failure whose cause only `--verbose` prints. */
export const CAUSE_HINT = '  (run again with --verbose to see the cause)\n'
