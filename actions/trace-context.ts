/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
 * values every transport accepts and emits, parsed in one place so that each wire reads them
 * the same way.
 */

/** A parsed `traceparent`: the trace, the caller's span in it, and the sampled flag. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string
  /** The caller's span: 16 lowercase hex digits, not all zero. */
  readonly spanId: string
  /** The trace flags byte; bit 0 is "sampled". */
  readonly flags: number
}

// Version 00 is exactly 55 characters; a later version may append fields after a dash, which
// a version-00 reader ignores (spec section 3.2.4). Version ff is invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '00000000000000000000000000000000'
const ZERO_SPAN = '0000000000000000'
/** tracestate: at most 32 list members, kept as it came; a bound on its size keeps it a header. */
const TRACESTATE_MAX = 512

/**
 * Parses a `traceparent` value; undefined when it is missing or invalid, which the spec says to
 * ignore (start a new trace) rather than refuse.
 *
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')?.traceId
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length < 55) return undefined
  const m = TRACEPARENT.exec(value)
  if (m === null) return undefined
  const version = m[1]!
  if (version === 'ff' || (version === '00' && m[5] !== undefined)) return undefined
  const traceId = m[2]!
  const spanId = m[3]!
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, flags: Number.parseInt(m[4]!, 16) }
}

/**
 * Formats a version-00 `traceparent`.
 *
 * @example
 * formatTraceparent({ traceId: '4bf9...4736', spanId: '00f0...02b7', flags: 1 })
 */
export function formatTraceparent(tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${tp.flags < 16 ? '0' : ''}${tp.flags.toString(16)}`
}

/** A `tracestate` value worth passing on: a printable string within bounds, else undefined. */
export function checkTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > TRACESTATE_MAX) return undefined
  return /^[\x20-\x7e]*$/.test(value) ? value : undefined
}

/** Whether a string is a valid W3C trace id (32 lowercase hex digits, not all zero). */
export function isTraceId(value: string): boolean {
  return value.length === 32 && value !== ZERO_TRACE && /^[0-9a-f]{32}$/.test(value)
}
