import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Envelope, EnvelopeKind, EnvelopeMeta, Reply, StoaErrorJSON } from '../../actions/transport.js'
import { checkTracestate, errorHead, parseTraceparent, StoaError } from '../../actions/transport.js'

/*
 * The HTTP transport's wire format. This file is the only one that knows it (Seneca's own
 * format lives in seneca-compat.ts).
 *
 * Request: `POST <path>` (default `/act`), `Content-Type: application/json`, the body is the
 * message as JSON: for an act, the message with the pattern's pairs; for a task or an event,
 * its data. Headers (all optional; a plain `curl` gets fresh ids and the service's default
 * time limit):
 *
 *   x-stoa-id          the message id
 *   x-stoa-trace       the trace id shared by every call in one chain (default: the message id)
 *   x-stoa-timeout-ms  the time left before the caller's deadline when it sent the request, ms,
 *                      a decimal integer >= 0. The listener's deadline is its own clock's time
 *                      of arrival plus this budget, so the two hosts' clocks need not agree (as
 *                      gRPC's `grpc-timeout`); 0 is answered TIMEOUT without running
 *   x-stoa-caller      the calling service's name (default `http`)
 *   x-stoa-kind        `act` (default), `send` (a task) or `emit` (an event)
 *   x-stoa-name        the task or event name, for `send` and `emit`
 *   authorization      `Bearer <token>`: the caller's identity token, passed on unverified
 *   traceparent        W3C Trace Context: the caller's span. When valid and x-stoa-trace is
 *   tracestate         absent, its trace id is the trace; an invalid one is ignored, as the
 *                      W3C spec asks
 *
 * Response: `200` with the result as JSON, or an empty body when the action returned nothing;
 * `202` with an empty body once a task or event has been handled; on failure the status
 * docs/errors.md gives the code (404, 504, 503...) and the body is the error's wire form
 * `{ "code", "message", "details"? }`, never a stack. Connections are kept alive.
 */

/** Header names of the stoa wire, lowercase as node reports them. */
export const HEADERS = {
  id: 'x-stoa-id',
  trace: 'x-stoa-trace',
  timeoutMs: 'x-stoa-timeout-ms',
  caller: 'x-stoa-caller',
  kind: 'x-stoa-kind',
  name: 'x-stoa-name',
  authorization: 'authorization',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const

const KINDS: ReadonlySet<string> = new Set<EnvelopeKind>(['act', 'send', 'emit'])
const BEARER = /^Bearer\s+(\S+)\s*$/i
const JSON_TYPE = 'application/json'
/** Ids and names travel in headers: bounded and plain, so nothing odd reaches logs or queues. */
const PLAIN = /^[\w.:/@*-]{1,200}$/
const DIGITS = /^\d{1,16}$/

/**
 * The request headers carrying an envelope's kind and metadata. The deadline goes as the time
 * left at `now`, rounded up, never below 0 (the client does not send a request whose deadline
 * has passed, so 0 only goes out in the last moment of a call's time).
 */
export function requestHeaders(e: Envelope, length: number, now = Date.now()): OutgoingHttpHeaders {
  const m = e.meta
  const h: OutgoingHttpHeaders = {
    'content-type': JSON_TYPE,
    'content-length': length,
    [HEADERS.id]: m.id,
    [HEADERS.trace]: m.trace,
  }
  if (m.deadline !== undefined) h[HEADERS.timeoutMs] = String(Math.max(0, Math.ceil(m.deadline - now)))
  if (m.caller !== undefined) h[HEADERS.caller] = m.caller
  if (m.token !== undefined) h[HEADERS.authorization] = `Bearer ${m.token}`
  if (m.traceparent !== undefined) {
    h[HEADERS.traceparent] = m.traceparent
    if (m.tracestate !== undefined) h[HEADERS.tracestate] = m.tracestate
  }
  if (e.kind !== 'act') {
    h[HEADERS.kind] = e.kind
    h[HEADERS.name] = e.name
  }
  return h
}

/** Whether a request speaks stoa's wire (rather than Seneca's, or none: a plain client). */
export function isStoaRequest(headers: IncomingHttpHeaders): boolean {
  return headers[HEADERS.id] !== undefined
}

/**
 * Reads an envelope's kind, name and metadata from request headers. Missing ids are made up;
 * malformed headers are refused with `INVALID_MESSAGE` naming the header. The deadline is
 * `arrived` (when the request reached this host, by its clock) plus the caller's budget.
 */
export function envelopeOf(headers: IncomingHttpHeaders, msg: Envelope['msg'], arrived = Date.now()): Envelope {
  const kind = headers[HEADERS.kind] ?? 'act'
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw badHeader(HEADERS.kind, 'must be act, send or emit')
  const meta: EnvelopeMeta = { id: '', trace: '' }
  meta.id = plain(headers[HEADERS.id], HEADERS.id) ?? randomUUID()
  const parent = parseTraceparent(headers[HEADERS.traceparent])
  meta.trace = plain(headers[HEADERS.trace], HEADERS.trace) ?? parent?.traceId ?? meta.id
  if (parent !== undefined) {
    meta.traceparent = headers[HEADERS.traceparent] as string
    const state = checkTracestate(headers[HEADERS.tracestate])
    if (state !== undefined) meta.tracestate = state
  }
  const budget = headers[HEADERS.timeoutMs]
  if (budget !== undefined) {
    // Digits only: Number() would also take '', ' 5', '1e3' and '0x10'.
    const ms = typeof budget === 'string' && DIGITS.test(budget) ? Number(budget) : NaN
    if (!Number.isSafeInteger(ms)) throw badHeader(HEADERS.timeoutMs, 'must be a whole number of ms, 0 or more')
    // A budget of 0 makes the deadline now: the kernel answers TIMEOUT without running.
    meta.deadline = arrived + ms
  }
  meta.caller = plain(headers[HEADERS.caller], HEADERS.caller) ?? 'http'
  const token = bearer(headers.authorization)
  if (token !== undefined) meta.token = token
  const e: Envelope = { kind: kind as EnvelopeKind, msg, meta }
  if (kind !== 'act') {
    const name = plain(headers[HEADERS.name], HEADERS.name)
    if (name === undefined) throw badHeader(HEADERS.name, `is required for ${kind}`)
    e.name = name
  }
  return e
}

/** The identity token of an `Authorization: Bearer` header; another scheme is refused. */
export function bearer(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const m = BEARER.exec(value)
  if (m === null) throw new StoaError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"')
  return m[1]
}

/** Status, headers and body of the answer to a stoa request. */
export function replyResponse(
  e: Envelope,
  reply: Reply,
): { status: number; headers: OutgoingHttpHeaders; body: string } {
  if (reply.ok) {
    const body = e.kind !== 'act' || reply.out === undefined ? '' : JSON.stringify(reply.out)
    const status = e.kind === 'act' ? 200 : 202
    return { status, headers: body === '' ? { 'content-length': 0 } : jsonHeaders(body), body }
  }
  return errorResponse(reply.error)
}

/**
 * Status, headers and body of an error answer: the kit's one error head (status,
 * `WWW-Authenticate`, `Retry-After`, `Allow`), and this wire's body, the error itself.
 */
export function errorResponse(error: StoaErrorJSON): { status: number; headers: OutgoingHttpHeaders; body: string } {
  const body = JSON.stringify(error)
  const { status, headers } = errorHead(error)
  return { status, headers: { ...headers, ...jsonHeaders(body) }, body }
}

/**
 * Reads a stoa listener's answer. Anything that is not a stoa answer (a proxy's HTML error
 * page, say) becomes `UNAVAILABLE` for 502-504 and `ACTION_FAILED` otherwise, so the caller
 * always gets one of the known codes.
 */
export function replyOf(status: number, body: string): Reply {
  if (status === 200 || status === 202) {
    if (body === '') return { ok: true, out: undefined }
    try {
      return { ok: true, out: JSON.parse(body) as unknown }
    } catch {
      return failure('ACTION_FAILED', 'the listener answered with invalid JSON')
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    parsed = undefined
  }
  if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { code?: unknown }).code === 'string') {
    return { ok: false, error: StoaError.fromJSON(parsed).toJSON() }
  }
  if (status >= 502 && status <= 504) return failure('UNAVAILABLE', `the listener answered ${status}`)
  return failure('ACTION_FAILED', `the listener answered ${status}`)
}

/** An error reply. */
export function failure(code: StoaErrorJSON['code'], message: string, details?: Record<string, unknown>): Reply {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } }
}

function jsonHeaders(body: string): OutgoingHttpHeaders {
  return { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) }
}

function plain(value: string | string[] | undefined, header: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !PLAIN.test(value)) throw badHeader(header, 'must be 1-200 plain characters')
  return value
}

function badHeader(header: string, why: string): StoaError {
  return new StoaError('INVALID_MESSAGE', `header ${header} ${why}`, { header })
}
