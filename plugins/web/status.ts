import type { ErrorCode } from '../../actions/index.js'

/**
 * The HTTP status answered for each error code, as docs/errors.md lists it. Exhaustive by type,
 * so a new code cannot ship without a status; the web plugin and the HTTP transport both use it.
 *
 * @example
 * res.statusCode = httpStatus[err.code] // 404 for NOT_FOUND
 */
export const httpStatus: Readonly<Record<ErrorCode, number>> = Object.freeze({
  NOT_FOUND: 404,
  INVALID_MESSAGE: 400,
  INVALID_NAME: 400,
  INVALID_PATTERN: 400,
  INVALID_OPTIONS: 500,
  INVALID_PLUGIN: 500,
  TIMEOUT: 504,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  UNAVAILABLE: 503,
  OVERLOADED: 503,
  CLOSED: 503,
  INVALID_JSON: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ACTION_FAILED: 500,
})
