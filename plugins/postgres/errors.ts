/**
 * Which database errors are worth trying again, and how. The rule (docs/state.md says it for
 * users): a failure of the *connection* (it was refused, reset, timed out or terminated; SQLSTATE
 * class 08; the server shutting down or not yet accepting, 57P01 to 57P03; too many connections,
 * 53300) means the database is unreachable now: the instance holds its intake until it answers
 * again. A *conflict* between transactions (serialization failure 40001, deadlock 40P01, lock
 * not available 55P03) means this transaction lost a race: it is run again at once, a few times.
 * Anything else (a constraint, a syntax error, a missing table) is the statement's own fault
 * and is not retried. Codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
 */

/** Socket errors and SQLSTATEs that say the connection, not the statement, failed. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
])

/** SQLSTATEs of a transaction that lost a race with another and may pass when run again. */
const CONFLICT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
])

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** Whether the connection to the database failed (it is down or unreachable), not the statement. */
export function isConnectionError(err: unknown): boolean {
  const code = codeOf(err)
  if (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true
  // pg's own words when the socket closes under it, a connect times out, or the pool is ended.
  return (
    err instanceof Error &&
    /connection terminated|connection timeout|connection error|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      err.message,
    )
  )
}

/** Whether a transaction lost a race with another (serialization failure, deadlock) and may be run again. */
export function isConflict(err: unknown): boolean {
  const code = codeOf(err)
  return code !== undefined && CONFLICT_CODES.has(code)
}

/** Whether a database error may pass when tried later: a connection failure or a conflict. */
export function isRetryableDatabaseError(err: unknown): boolean {
  return isConnectionError(err) || isConflict(err)
}
