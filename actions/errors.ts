/** What stoa promises about one error code. */
export interface ErrorSpec {
  /** The HTTP status the web plugin, the HTTP transport and API Gateway answer with. */
  readonly http: number
  /** Whether a failure may succeed if tried again later: retry with backoff, or dead-letter. */
  readonly retryable: boolean
  /** The `stoa` command's exit status. */
  readonly exit: number
  /** One line: what the code means. docs/errors.md says more. */
  readonly summary: string
}

/**
 * Every error stoa raises or carries has one of these codes, and this is the one table that
 * says what each means on every transport. A code is a promise to users: never renamed, never
 * reused for something else. Each one has a line in docs/errors.md, which a test holds to this
 * table. Every failure exits 1, so that a cron or a workflow engine tests only for non-zero.
 */
const table = {
  NOT_FOUND: { http: 404, retryable: false, exit: 1, summary: 'no action, task handler, prior or web route matches' },
  METHOD_NOT_ALLOWED: {
    http: 405,
    retryable: false,
    exit: 1,
    summary: 'a web path has routes, but none for this method',
  },
  INVALID_MESSAGE: { http: 400, retryable: false, exit: 1, summary: "the message failed the action's schema" },
  INVALID_NAME: { http: 400, retryable: false, exit: 1, summary: 'an event or task name breaks the naming rules' },
  INVALID_PATTERN: { http: 400, retryable: false, exit: 1, summary: 'a pattern is malformed or holds a forbidden key' },
  INVALID_OPTIONS: { http: 500, retryable: false, exit: 1, summary: 'options failed validation at startup' },
  INVALID_PLUGIN: {
    http: 500,
    retryable: false,
    exit: 1,
    summary: 'a plugin is malformed, duplicated, missing a dependency or failed to start',
  },
  INVALID_CONFIG: {
    http: 500,
    retryable: false,
    exit: 1,
    summary: "a service's setting is missing or breaks its rule: it did not start",
  },
  TIMEOUT: { http: 504, retryable: true, exit: 1, summary: 'the call did not finish before its deadline' },
  UNAUTHENTICATED: { http: 401, retryable: false, exit: 1, summary: 'no valid identity token was presented' },
  FORBIDDEN: { http: 403, retryable: false, exit: 1, summary: 'the identity lacks the permission required' },
  UNAVAILABLE: { http: 503, retryable: true, exit: 1, summary: 'a transport or dependency cannot be reached now' },
  OVERLOADED: { http: 503, retryable: true, exit: 1, summary: 'the service refuses work to protect itself' },
  CLOSED: { http: 503, retryable: true, exit: 1, summary: 'the instance is closing or closed' },
  RATE_LIMITED: { http: 429, retryable: true, exit: 1, summary: 'the caller is over its rate limit for now' },
  INVALID_JSON: { http: 400, retryable: false, exit: 1, summary: 'a request body is not valid JSON' },
  PAYLOAD_TOO_LARGE: { http: 413, retryable: false, exit: 1, summary: 'a request body is over the limit' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, retryable: false, exit: 1, summary: 'a request body is not application/json' },
  SCHEMA_MISMATCH: {
    http: 500,
    retryable: false,
    exit: 1,
    summary: "the database's schema is not the one the code's migrations make",
  },
  INVALID_RESULT: {
    http: 500,
    retryable: false,
    exit: 1,
    summary: "an action's result failed its declared result schema (result checks on)",
  },
  SAGA_CHANGED: {
    http: 500,
    retryable: false,
    exit: 1,
    summary: "a saga's recorded version or steps differ from what its code asks for",
  },
  SAGA_ABORTED: {
    http: 409,
    retryable: false,
    exit: 1,
    summary: 'a saga was aborted or cancelled: its steps were undone',
  },
  ACTION_FAILED: {
    http: 500,
    retryable: true,
    exit: 1,
    summary: 'an action failed with something that is not a StoaError',
  },
} as const satisfies Record<string, ErrorSpec>
for (const row of Object.values(table)) Object.freeze(row)
export const ERRORS: typeof table = Object.freeze(table)

/** One of the stable error codes in {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS

/** The codes, in the table's order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(ERRORS) as ErrorCode[])

/** The wire form of an error: no stack, no cause. */
export interface StoaErrorJSON {
  code: ErrorCode
  message: string
  details?: Record<string, unknown>
}

/** Marks errors made by any copy of stoa; a registered symbol is the same in every copy. */
const BRAND = Symbol.for('stoa.StoaError')

/** Whether `code` is one of stoa's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
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
