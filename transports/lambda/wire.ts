import { randomUUID } from 'node:crypto'
import type { Envelope, EnvelopeKind, EnvelopeMeta, Message, Reply, StoaErrorJSON } from '../../actions/transport.js'
import { checkTracestate, isErrorCode, parseTraceparent, StoaError } from '../../actions/transport.js'

/*
 * The payload of a direct invocation between stoa's Lambda client and `lambdaHandler`. This
 * file is the only one that knows it; docs/wire.md describes it.
 *
 * Request (the Invoke API's body; `RequestResponse` for an act, `Event` for a task or event):
 *
 *   { "stoa": { "v": 1, "kind": "act" | "send" | "emit", "name"?: "<task or event>",
 *               "id": "...", "trace": "...", "timeoutMs"?: 2990, "caller"?: "gateway",
 *               "token"?: "<jwt>", "traceparent"?: "00-...", "tracestate"?: "..." },
 *     "msg": { ...the message, or the task's or event's data } }
 *
 * `traceparent` and `tracestate` are W3C Trace Context, as the other transports carry them in
 * their headers: an invalid `traceparent` is ignored, and a valid one names the trace when
 * `trace` is absent.
 *
 * `timeoutMs` is the time left before the caller's deadline when it sent the request; the
 * function counts it from the invocation's arrival on its own clock, as the HTTP and AMQP
 * transports do, and never past Lambda's own remaining time.
 *
 * Reply (the function's result, `RequestResponse` only):
 *
 *   { "stoa": 1, "ok": true, "out": <result> }
 *   { "stoa": 1, "ok": false, "error": { "code", "message", "details"? } }
 *
 * A stoa error is a result, not a function error: Lambda reports it as a success and the
 * caller rebuilds it with its code. A task or event that fails throws instead (see
 * {@link thrownError}), so that Lambda retries it and then hands it to the function's
 * dead-letter queue or on-failure destination. What the function throws reaches the caller
 * as Lambda's `FunctionError` answer, `{ errorType, errorMessage, trace }`.
 */

/** The version of the payload format, in every request and reply. */
export const WIRE_VERSION = 1

const KINDS: ReadonlySet<string> = new Set<EnvelopeKind>(['act', 'send', 'emit'])
/** Ids, traces and caller names: bounded and plain, so nothing odd reaches logs or queues. */
const PLAIN = /^[\w.:/@*-]{1,200}$/
/** An identity token is passed on, not read: bounded so a payload cannot smuggle megabytes in it. */
const MAX_TOKEN_CHARS = 16 * 1024
/** `CODE: message`, the errorMessage of a {@link thrownError}. */
const THROWN = /^([A-Z_]+): ([\s\S]*)$/

/** The request payload of a direct invocation. */
export interface DirectRequest {
  stoa: {
    v: number
    kind: EnvelopeKind
    name?: string
    id: string
    trace: string
    timeoutMs?: number
    caller?: string
    token?: string
    traceparent?: string
    tracestate?: string
  }
  msg: Message
}

/** The reply payload of a direct invocation. */
export type DirectReply =
  | ({ stoa: number } & { ok: true; out: unknown })
  | ({ stoa: number } & { ok: false; error: StoaErrorJSON })

/**
 * Writes an envelope as a request payload. The deadline goes as the time left at `now`,
 * rounded up. Throws `INVALID_MESSAGE` when the message cannot be written as JSON.
 */
export function encodeRequest(e: Envelope, now = Date.now()): string {
  const m = e.meta
  const head: DirectRequest['stoa'] = { v: WIRE_VERSION, kind: e.kind, id: m.id, trace: m.trace }
  if (e.kind !== 'act' && e.name !== undefined) head.name = e.name
  if (m.deadline !== undefined) head.timeoutMs = Math.max(0, Math.ceil(m.deadline - now))
  if (m.caller !== undefined) head.caller = m.caller
  if (m.token !== undefined) head.token = m.token
  if (m.traceparent !== undefined) head.traceparent = m.traceparent
  if (m.tracestate !== undefined) head.tracestate = m.tracestate
  try {
    return JSON.stringify({ stoa: head, msg: e.msg ?? {} })
  } catch {
    throw new StoaError('INVALID_MESSAGE', 'the message cannot be written as JSON')
  }
}

/** Whether an event is a direct stoa request (it may still be malformed: {@link decodeRequest} says). */
export function isDirectRequest(event: unknown): event is DirectRequest {
  return (
    event !== null &&
    typeof event === 'object' &&
    !Array.isArray(event) &&
    typeof (event as { stoa?: unknown }).stoa === 'object'
  )
}

/**
 * Reads a direct request into an envelope. `arrived` is when the invocation reached the
 * function; `limit` the latest deadline Lambda's remaining time allows (undefined outside
 * Lambda: then the caller's budget, or the service's default time limit). A malformed payload
 * throws `INVALID_MESSAGE` naming the field.
 */
export function decodeRequest(event: DirectRequest, arrived: number, limit: number | undefined): Envelope {
  const head = event.stoa
  if (head === null || typeof head !== 'object' || Array.isArray(head)) throw bad('stoa', 'must be an object')
  if (head.v !== WIRE_VERSION) throw bad('stoa.v', `must be ${WIRE_VERSION}`)
  if (typeof head.kind !== 'string' || !KINDS.has(head.kind)) throw bad('stoa.kind', 'must be act, send or emit')
  const msg = event.msg ?? {}
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw bad('msg', 'must be an object')
  const meta: EnvelopeMeta = { id: '', trace: '' }
  meta.id = plain(head.id, 'stoa.id') ?? randomUUID()
  const parent = parseTraceparent(typeof head.traceparent === 'string' ? head.traceparent : undefined)
  if (parent !== undefined) {
    meta.traceparent = head.traceparent as string
    const state = checkTracestate(typeof head.tracestate === 'string' ? head.tracestate : undefined)
    if (state !== undefined) meta.tracestate = state
  }
  meta.trace = plain(head.trace, 'stoa.trace') ?? parent?.traceId ?? meta.id
  let deadline = limit
  if (head.timeoutMs !== undefined) {
    if (!Number.isSafeInteger(head.timeoutMs) || head.timeoutMs < 0)
      throw bad('stoa.timeoutMs', 'must be a whole number of ms, 0 or more')
    deadline = Math.min(limit ?? Infinity, arrived + head.timeoutMs)
  }
  if (deadline !== undefined) meta.deadline = deadline
  meta.caller = plain(head.caller, 'stoa.caller') ?? 'lambda'
  if (head.token !== undefined) {
    if (typeof head.token !== 'string' || head.token.length === 0 || head.token.length > MAX_TOKEN_CHARS)
      throw bad('stoa.token', 'must be a token string')
    meta.token = head.token
  }
  const e: Envelope = { kind: head.kind, msg, meta }
  if (head.kind !== 'act') {
    const name = plain(head.name, 'stoa.name')
    if (name === undefined) throw bad('stoa.name', `is required for ${head.kind}`)
    e.name = name
  }
  return e
}

/** The reply payload for a reply. */
export function encodeReply(reply: Reply): DirectReply {
  return reply.ok
    ? { stoa: WIRE_VERSION, ok: true, out: reply.out }
    : { stoa: WIRE_VERSION, ok: false, error: reply.error }
}

/**
 * Reads a function's answer. A stoa reply gives its result or its error; any other JSON is a
 * function that does not run stoa, and its whole result is the act's result. With
 * `functionError` set (Lambda's `X-Amz-Function-Error`), see {@link functionFailure}.
 */
export function decodeReply(payload: string, functionError: string | undefined): Reply {
  let value: unknown
  try {
    value = payload === '' ? null : JSON.parse(payload)
  } catch {
    return failure('ACTION_FAILED', 'the function answered with invalid JSON')
  }
  if (functionError !== undefined) return functionFailure(value, functionError)
  if (
    value !== null &&
    typeof value === 'object' &&
    (value as { stoa?: unknown }).stoa === WIRE_VERSION &&
    typeof (value as { ok?: unknown }).ok === 'boolean'
  ) {
    const r = value as { ok: boolean; out?: unknown; error?: unknown }
    return r.ok ? { ok: true, out: r.out } : { ok: false, error: StoaError.fromJSON(r.error).toJSON() }
  }
  return { ok: true, out: value ?? undefined }
}

/**
 * The reply for an invocation that failed in the function: `{ errorType, errorMessage, trace }`
 * from the Node runtime. A {@link thrownError} comes back as the stoa error it was; Lambda's
 * own time-out as `TIMEOUT`; anything else as `ACTION_FAILED` naming the error type only (the
 * message and the remote stack may hold internals and stay in the function's log).
 */
export function functionFailure(value: unknown, functionError: string): Reply {
  const o = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {}
  const type = typeof o.errorType === 'string' ? o.errorType : undefined
  const text = typeof o.errorMessage === 'string' ? o.errorMessage : ''
  if (type === 'StoaError') {
    const m = THROWN.exec(text)
    if (m !== null && isErrorCode(m[1])) return failure(m[1], m[2]!)
  }
  // Lambda's own answer when a function runs out of time ("Task timed out after 3.00 seconds").
  if (type === 'Sandbox.Timedout' || /Task timed out after/.test(text))
    return failure('TIMEOUT', 'the function ran out of time', { functionError })
  return failure('ACTION_FAILED', `the function failed${type === undefined ? '' : ` (${type})`}`, {
    functionError,
    ...(type === undefined ? {} : { errorType: type }),
  })
}

/**
 * What a handler throws so that Lambda sees a failed invocation: a `StoaError` whose message
 * begins with its code, so that Lambda's console and logs show the code, and a stoa client
 * rebuilds the error from the runtime's `{ errorType, errorMessage }`.
 */
export function thrownError(error: StoaErrorJSON): StoaError {
  return new StoaError(error.code, `${error.code}: ${error.message}`, error.details)
}

/** An error reply. */
export function failure(code: StoaErrorJSON['code'], message: string, details?: Record<string, unknown>): Reply {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } }
}

function plain(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !PLAIN.test(value)) throw bad(field, 'must be 1-200 plain characters')
  return value
}

function bad(field: string, why: string): StoaError {
  return new StoaError('INVALID_MESSAGE', `payload field ${field} ${why}`, { field })
}
