import type { MsgHdrs } from '@nats-io/transport-node'
import type { Envelope, EnvelopeKind, Message, Reply, StoaErrorJSON } from '../../actions/transport.js'
import {
  checkTracestate,
  errorReply,
  isErrorCode,
  parseTraceparent,
  StoaError,
  unwritableResult,
} from '../../actions/transport.js'

/**
 * The NATS headers stoa writes and reads, and the body format. This file is the only one that
 * knows them; docs/wire.md lists them. The subject carries the task or event name, so it is not
 * repeated in a header.
 *
 * | header | on | value |
 * | --- | --- | --- |
 * | `stoa-id` | requests (acts) | the envelope id |
 * | `Nats-Msg-Id` | tasks, events | the envelope id; JetStream drops a second publish of it within the stream's duplicate window |
 * | `stoa-trace` | when it differs from the id | the trace id shared by a chain of calls |
 * | `traceparent`, `tracestate` | when set | W3C Trace Context: the sender's span; its trace id is the trace when `stoa-trace` is absent |
 * | `stoa-token` | when set | the caller's identity token (JWT) |
 * | `stoa-caller` | when set | the calling service |
 * | `stoa-timeout-ms` | every message with a deadline | the time left when sent, ms; the receiver counts it from arrival on its own clock (each try of a task or event gets that long) |
 * | `stoa-error-code`, `stoa-error-message` | dead letters | why it was dead-lettered |
 * | `stoa-attempts` | dead letters | how many tries were made |
 * | `stoa-subject` | dead letters | the subject it was published on |
 *
 * The body is the message as JSON (for tasks and events, the data). A reply's body is
 * `{"ok":true,"out":...}` or `{"ok":false,"error":{"code","message","details"}}`.
 */
export const HEADERS = {
  id: 'stoa-id',
  msgId: 'Nats-Msg-Id',
  trace: 'stoa-trace',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  token: 'stoa-token',
  caller: 'stoa-caller',
  timeoutMs: 'stoa-timeout-ms',
  errorCode: 'stoa-error-code',
  errorMessage: 'stoa-error-message',
  attempts: 'stoa-attempts',
  subject: 'stoa-subject',
} as const

/** A message ready to publish: its body and headers. */
export interface Outgoing {
  readonly body: Uint8Array
  readonly headers: MsgHdrs
}

/** A received request: the envelope, or why it cannot be run (a poison message). */
export type Incoming = { ok: true; envelope: Envelope } | { ok: false; error: StoaError }

/** What a received NATS message offers the decoder. */
export interface Received {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers?: MsgHdrs | undefined
}

/**
 * Encodes a request (act, task or event) into `headers` (fresh, from the client's `headers()`).
 * Throws `PAYLOAD_TOO_LARGE` beyond `maxBodyBytes`, `INVALID_MESSAGE` when the message is not JSON.
 */
export function encodeRequest(e: Envelope, maxBodyBytes: number, headers: MsgHdrs, now = Date.now()): Outgoing {
  let text: string
  try {
    text = JSON.stringify(e.msg ?? {})
  } catch {
    throw new StoaError('INVALID_MESSAGE', 'the message cannot be written as JSON')
  }
  const body = Buffer.from(text)
  if (body.length > maxBodyBytes) {
    throw new StoaError('PAYLOAD_TOO_LARGE', `the message is ${body.length} bytes; the limit is ${maxBodyBytes}`, {
      bytes: body.length,
      limit: maxBodyBytes,
    })
  }
  const meta = e.meta
  // Tasks and events carry the id as JetStream's own message id, which also deduplicates.
  headers.set(e.kind === 'act' ? HEADERS.id : HEADERS.msgId, meta.id)
  if (meta.trace !== meta.id) headers.set(HEADERS.trace, meta.trace)
  if (meta.token !== undefined) headers.set(HEADERS.token, meta.token)
  if (meta.caller !== undefined) headers.set(HEADERS.caller, meta.caller)
  if (meta.traceparent !== undefined) {
    headers.set(HEADERS.traceparent, meta.traceparent)
    if (meta.tracestate !== undefined) headers.set(HEADERS.tracestate, meta.tracestate)
  }
  // The time left, not an absolute time: the hosts' clocks need not agree.
  if (meta.deadline !== undefined) headers.set(HEADERS.timeoutMs, String(Math.max(1, meta.deadline - now)))
  return { body, headers }
}

/**
 * Decodes a request of the given kind. `base` is the subject part before a task or event name
 * (`stoa.tasks.`). The deadline is now, by this host's clock, plus the time the sender allowed:
 * each try of a task or event gets that long, so work that waited in the stream through an
 * outage or a backoff is still done rather than expiring unseen.
 */
export function decodeRequest(
  m: Received,
  kind: EnvelopeKind,
  base: string,
  maxBodyBytes: number,
  now = Date.now(),
): Incoming {
  // No closures here: this runs for every request and delivery, and each would be made anew.
  if (m.data.length > maxBodyBytes) {
    return failed(
      new StoaError('PAYLOAD_TOO_LARGE', `the message is ${m.data.length} bytes; the limit is ${maxBodyBytes}`),
    )
  }
  let msg: unknown
  try {
    msg = m.data.length === 0 ? {} : JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).toString())
  } catch {
    return failed(new StoaError('INVALID_JSON', 'the message body is not valid JSON'))
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return failed(new StoaError('INVALID_MESSAGE', 'the message must be a JSON object'))
  }
  const h = m.headers
  const id = header(h, kind === 'act' ? HEADERS.id : HEADERS.msgId) ?? header(h, HEADERS.id) ?? m.subject
  const timeoutMs = Number(header(h, HEADERS.timeoutMs))
  const deadline = Number.isFinite(timeoutMs) && timeoutMs > 0 ? now + timeoutMs : undefined
  const trace = header(h, HEADERS.trace)
  const envelope: Envelope = {
    kind,
    msg: msg as Message,
    meta: { id, trace: trace ?? id, deadline, token: header(h, HEADERS.token), caller: header(h, HEADERS.caller) },
  }
  // An invalid traceparent is ignored, as W3C Trace Context asks; a valid one names the trace
  // when stoa-trace does not.
  const traceparent = header(h, HEADERS.traceparent)
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent)
  if (parent !== undefined) {
    envelope.meta.traceparent = traceparent as string
    if (trace === undefined) envelope.meta.trace = parent.traceId
    const state = checkTracestate(header(h, HEADERS.tracestate))
    if (state !== undefined) envelope.meta.tracestate = state
  }
  if (kind !== 'act') {
    if (!m.subject.startsWith(base) || m.subject.length === base.length)
      return failed(
        new StoaError('INVALID_MESSAGE', `subject "${m.subject}" names no ${kind === 'send' ? 'task' : 'event'}`),
      )
    envelope.name = m.subject.slice(base.length)
  }
  return { ok: true, envelope }
}

/** A header's value; absent and empty alike are `undefined`. */
function header(h: MsgHdrs | undefined, k: string): string | undefined {
  const v = h?.get(k)
  return v === undefined || v === '' ? undefined : v
}

function failed(error: StoaError): Incoming {
  return { ok: false, error }
}

/** Encodes the reply to a request. */
export function encodeReply(reply: Reply): Uint8Array {
  try {
    return Buffer.from(JSON.stringify(reply))
  } catch (err) {
    return Buffer.from(JSON.stringify({ ok: false, error: unwritableResult(err).toJSON() }))
  }
}

/** Decodes a reply; anything malformed becomes an `ACTION_FAILED` error reply. */
export function decodeReply(data: Uint8Array): Reply {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString())
  } catch {
    return errorReply(new StoaError('ACTION_FAILED', 'the reply is not valid JSON'))
  }
  if (value !== null && typeof value === 'object') {
    const r = value as { ok?: unknown; out?: unknown; error?: unknown }
    if (r.ok === true) return { ok: true, out: r.out }
    if (r.ok === false) return { ok: false, error: StoaError.fromJSON(r.error).toJSON() }
  }
  return errorReply(new StoaError('ACTION_FAILED', 'the reply is not a stoa reply'))
}

/**
 * Decodes JetStream's answer to a publish: stored (`{"stream":…,"seq":…}`, a duplicate
 * included: the message id was stored before), or refused (`{"error":{"description":…}}`).
 */
export function decodePubAck(data: Uint8Array): { ok: true } | { ok: false; error: string } {
  let value: { stream?: unknown; error?: { description?: unknown; code?: unknown } } | null
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString())
  } catch {
    return { ok: false, error: 'the acknowledgement is not valid JSON' }
  }
  if (value !== null && typeof value === 'object') {
    if (value.error !== undefined && value.error !== null)
      return { ok: false, error: String(value.error.description ?? value.error.code ?? 'refused') }
    if (typeof value.stream === 'string' && value.stream !== '') return { ok: true }
  }
  return { ok: false, error: 'the acknowledgement names no stream' }
}

/**
 * The headers of a dead letter: the original's, plus why it was given up and after how many
 * tries, into `headers` (fresh). The id header is left out, so JetStream never takes a dead
 * letter for a duplicate of its original.
 */
export function deadLetterHeaders(m: Received, error: StoaErrorJSON, attempts: number, headers: MsgHdrs): MsgHdrs {
  for (const k of m.headers?.keys() ?? []) {
    if (k === HEADERS.msgId) continue
    for (const v of m.headers!.values(k)) headers.append(k, v)
  }
  headers.set(HEADERS.errorCode, error.code)
  headers.set(HEADERS.errorMessage, error.message.replace(/[\r\n]+/g, ' '))
  headers.set(HEADERS.attempts, String(attempts))
  headers.set(HEADERS.subject, m.subject)
  const id = m.headers?.get(HEADERS.msgId)
  if (id !== undefined && id !== '') headers.set(HEADERS.id, id)
  return headers
}

/** The error carried by a dead letter's headers. */
export function deadLetterReason(headers: MsgHdrs | undefined): {
  code: string
  message: string
  attempts: number
  subject: string
} {
  const code = headers?.get(HEADERS.errorCode)
  return {
    code: isErrorCode(code) ? code : 'ACTION_FAILED',
    message: headers?.get(HEADERS.errorMessage) ?? '',
    attempts: Number(headers?.get(HEADERS.attempts) ?? 0),
    subject: headers?.get(HEADERS.subject) ?? '',
  }
}
