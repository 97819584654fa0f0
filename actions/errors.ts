/**
 * Every error stoa raises or carries has one of these codes. A code is a promise to users:
 * never renamed, never reused for something else. Each one has a line in docs/errors.md.
 */
export const ERROR_CODES = [
  'NOT_FOUND',
  'INVALID_MESSAGE',
  'INVALID_NAME',
  'INVALID_PATTERN',
  'INVALID_OPTIONS',
  'INVALID_PLUGIN',
  'TIMEOUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'UNAVAILABLE',
  'OVERLOADED',
  'CLOSED',
  'INVALID_JSON',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'ACTION_FAILED',
] as const

/** One of the stable error codes in {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number]

/** The wire form of an error: no stack, no cause. */
export interface StoaErrorJSON {
  code: ErrorCode
  message: string
  details?: Record<string, unknown>
}

const codeSet: ReadonlySet<string> = new Set(ERROR_CODES)

/** Marks errors made by any copy of stoa; a registered symbol is the same in every copy. */
const BRAND = Symbol.for('stoa.StoaError')

/** Whether `code` is one of stoa's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && codeSet.has(code)
}

/**
 * Whether a failure with this code may succeed if tried again later. Exhaustive by type, so
 * a new code cannot ship without a decision here; transports use it to choose between a retry
 * and the dead-letter queue.
 */
export const retryable: Readonly<Record<ErrorCode, boolean>> = {
  NOT_FOUND: false,
  INVALID_MESSAGE: false,
  INVALID_NAME: false,
  INVALID_PATTERN: false,
  INVALID_OPTIONS: false,
  INVALID_PLUGIN: false,
  TIMEOUT: true,
  UNAUTHENTICATED: false,
  FORBIDDEN: false,
  UNAVAILABLE: true,
  OVERLOADED: true,
  CLOSED: true,
  INVALID_JSON: false,
  PAYLOAD_TOO_LARGE: false,
  UNSUPPORTED_MEDIA_TYPE: false,
  ACTION_FAILED: true,
}

/**
 * The one error type of stoa: a stable `code`, a plain message and optional details.
 *
 * @example
 * throw new StoaError('INVALID_MESSAGE', 'left must be a number', { fields: ['left'] })
 */
export class StoaError extends Error {
  override readonly name = 'StoaError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
    Object.defineProperty(this, BRAND, { value: true })
  }

  /**
   * `err instanceof StoaError` holds for errors made by any copy of stoa in the process: a
   * service loaded from its own install (or through a TypeScript loader) brings a second copy
   * of the kernel, and its errors must still be recognised by the CLI and the transports.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== StoaError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return value !== null && typeof value === 'object' && (value as Record<symbol, unknown>)[BRAND] === true
  }

  /** The wire form: code, message and details, never the stack or the cause. */
  toJSON(): StoaErrorJSON {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }

  /**
   * Rebuilds an error received from another process. Anything that is not a well-formed
   * stoa error becomes `ACTION_FAILED`, so `err.code` is always one of the known codes.
   */
  static fromJSON(json: unknown): StoaError {
    if (json !== null && typeof json === 'object') {
      const { code, message, details } = json as Record<string, unknown>
      const text = typeof message === 'string' ? message : 'remote action failed'
      const extra = details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : undefined
      if (isErrorCode(code)) return new StoaError(code, text, extra)
      return new StoaError('ACTION_FAILED', text, extra)
    }
    return new StoaError('ACTION_FAILED', 'remote action failed')
  }
}

/**
 * The error for a result JSON cannot hold (a BigInt, a cycle): the action's failure, which
 * every listener and the CLI answer the same way. `cause` is the serializer's own error, kept
 * locally for the log.
 */
export function unwritableResult(cause?: unknown): StoaError {
  return new StoaError('ACTION_FAILED', 'the result cannot be written as JSON', undefined, { cause })
}

/**
 * Turns anything thrown into a StoaError. A StoaError passes through; anything else becomes
 * `ACTION_FAILED` with a plain message, keeping the original as the local `cause` so it can
 * be logged but never reaches a caller over the wire.
 */
export function toStoaError(err: unknown): StoaError {
  if (err instanceof StoaError) return err
  return new StoaError('ACTION_FAILED', 'action failed', undefined, { cause: err })
}
