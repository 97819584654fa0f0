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
 * The NATS headers stoa writes and reads, and the body formats. This file is the only one that
 * knows them; docs/wire.md lists them. The subject carries the task or event name, so it is not
 * repeated in a header.
 *
 * An act travels with no headers: its body is `{"stoa":{…},"msg":{…}}`, what the headers of a
 * task or event say in `stoa` (`v`, `id`, `trace`, `timeoutMs`, `caller`, `token`,
 * `traceparent`, `tracestate`), so neither side writes or parses a header block per request.
 * An act with a `stoa-id` header is an older sender's: its headers are read as before.
 *
 * | header | on | value |
 * | --- | --- | --- |
 * | `Nats-Msg-Id` | tasks, events | the envelope id; JetStream drops a second publish of it within the stream's duplicate window |
 * | `stoa-id` | dead letters; acts from older senders | the envelope id |
 * | `stoa-trace` | when it differs from the id | the trace id shared by a chain of calls |
 * | `traceparent`, `tracestate` | when set | W3C Trace Context: the sender's span; its trace id is the trace when `stoa-trace` is absent |
 * | `stoa-token` | when set | the caller's identity token (JWT) |
 * | `stoa-caller` | when set | the calling service |
 * | `stoa-timeout-ms` | every message with a deadline | the time left when sent, ms; the receiver counts it from arrival on its own clock (each try of a task or event gets that long) |
 * | `stoa-error-code`, `stoa-error-message` | dead letters | why it was dead-lettered |
 * | `stoa-attempts` | dead letters | how many tries were made |
 * | `stoa-subject` | dead letters | the subject it was published on |
 *
 * A task's or event's body is its data as JSON. A reply's body is `{"ok":true,"out":...}` or
 * `{"ok":false,"error":{"code","message","details"}}`.
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

/** The version of an act's body format, its `stoa.v`. */
export const ACT_VERSION = 1

/** What an act's body says besides its message. */
interface ActHead {
  v: number
  id: string
  trace?: string
  timeoutMs?: number
  caller?: string
  token?: string
  traceparent?: string
  tracestate?: string
}

/**
 * Encodes an act into its body (it has no headers). Throws `PAYLOAD_TOO_LARGE` beyond
 * `maxBodyBytes`, `INVALID_MESSAGE` when the message is not JSON.
 */
export function encodeAct(e: Envelope, maxBodyBytes: number, now = Date.now()): Uint8Array {
  const meta = e.meta
  const head: ActHead = { v: ACT_VERSION, id: meta.id }
  if (meta.trace !== meta.id) head.trace = meta.trace
  // The time left, not an absolute time: the hosts' clocks need not agree.
  if (meta.deadline !== undefined) head.timeoutMs = Math.max(1, Math.ceil(meta.deadline - now))
  if (meta.caller !== undefined) head.caller = meta.caller
  if (meta.token !== undefined) head.token = meta.token
  if (meta.traceparent !== undefined) {
    head.traceparent = meta.traceparent
    if (meta.tracestate !== undefined) head.tracestate = meta.tracestate
  }
  return jsonBody({ stoa: head, msg: e.msg ?? {} }, maxBodyBytes)
}

/**
 * Encodes a task or event into `headers` (fresh, from the client's `headers()`) and its data.
 * Throws `PAYLOAD_TOO_LARGE` beyond `maxBodyBytes`, `INVALID_MESSAGE` when the data is not JSON.
 */
export function encodeRequest(e: Envelope, maxBodyBytes: number, headers: MsgHdrs, now = Date.now()): Outgoing {
  const body = jsonBody(e.msg ?? {}, maxBodyBytes)
  const meta = e.meta
  // The id is JetStream's own message id, which also deduplicates.
  headers.set(HEADERS.msgId, meta.id)
  if (meta.trace !== meta.id) headers.set(HEADERS.trace, meta.trace)
  if (meta.token !== undefined) headers.set(HEADERS.token, meta.token)
  if (meta.caller !== undefined) headers.set(HEADERS.caller, meta.caller)
  if (meta.traceparent !== undefined) {
    headers.set(HEADERS.traceparent, meta.traceparent)
    if (meta.tracestate !== undefined) headers.set(HEADERS.tracestate, meta.tracestate)
  }
  if (meta.deadline !== undefined) headers.set(HEADERS.timeoutMs, String(Math.max(1, meta.deadline - now)))
  return { body, headers }
}

function jsonBody(value: unknown, maxBodyBytes: number): Uint8Array {
  let text: string
  try {
    text = JSON.stringify(value)
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
  return body
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
  let body: unknown
  try {
    body =
      m.data.length === 0 ? {} : JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).toString())
  } catch {
    return failed(new StoaError('INVALID_JSON', 'the message body is not valid JSON'))
  }
  if (!isObject(body)) return failed(new StoaError('INVALID_MESSAGE', 'the message must be a JSON object'))
  const h = m.headers
  // An act without headers is `{"stoa":{…},"msg":{…}}`; one with them, an older sender's.
  if (kind === 'act' && h === undefined && isObject(body.stoa)) return actBody(body.stoa, body.msg, now)
  const id = header(h, kind === 'act' ? HEADERS.id : HEADERS.msgId) ?? header(h, HEADERS.id) ?? m.subject
  const envelope: Envelope = {
    kind,
    msg: body as Message,
    meta: {
      id,
      trace: id,
      deadline: deadlineOf(Number(header(h, HEADERS.timeoutMs)), now),
      token: header(h, HEADERS.token),
      caller: header(h, HEADERS.caller),
    },
  }
  traceContext(envelope, header(h, HEADERS.trace), header(h, HEADERS.traceparent), header(h, HEADERS.tracestate))
  if (kind !== 'act') {
    if (!m.subject.startsWith(base) || m.subject.length === base.length)
      return failed(
        new StoaError('INVALID_MESSAGE', `subject "${m.subject}" names no ${kind === 'send' ? 'task' : 'event'}`),
      )
    envelope.name = m.subject.slice(base.length)
  }
  return { ok: true, envelope }
}

/** An act's body: its `stoa` part read as the headers are (a field of the wrong type is absent). */
function actBody(head: Record<string, unknown>, msg: unknown, now: number): Incoming {
  if (head.v !== ACT_VERSION) return failed(new StoaError('INVALID_MESSAGE', `stoa.v must be ${ACT_VERSION}`))
  if (msg !== undefined && !isObject(msg)) return failed(new StoaError('INVALID_MESSAGE', 'msg must be a JSON object'))
  const id = text(head.id)
  if (id === undefined) return failed(new StoaError('INVALID_MESSAGE', 'stoa.id must be a string'))
  const envelope: Envelope = {
    kind: 'act',
    msg: (msg ?? {}) as Message,
    meta: {
      id,
      trace: id,
      deadline: typeof head.timeoutMs === 'number' ? deadlineOf(head.timeoutMs, now) : undefined,
      token: text(head.token),
      caller: text(head.caller),
    },
  }
  traceContext(envelope, text(head.trace), text(head.traceparent), text(head.tracestate))
  return { ok: true, envelope }
}

function deadlineOf(timeoutMs: number, now: number): number | undefined {
  return Number.isFinite(timeoutMs) && timeoutMs > 0 ? now + timeoutMs : undefined
}

/**
 * The trace of a request: `trace` when given; else the trace id of a valid `traceparent`; else
 * its id. An invalid traceparent is ignored, as W3C Trace Context asks.
 */
function traceContext(
  e: Envelope,
  trace: string | undefined,
  traceparent: string | undefined,
  tracestate: string | undefined,
): void {
  if (trace !== undefined) e.meta.trace = trace
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent)
  if (parent === undefined) return
  e.meta.traceparent = traceparent as string
  if (trace === undefined) e.meta.trace = parent.traceId
  const state = checkTracestate(tracestate)
  if (state !== undefined) e.meta.tracestate = state
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A string field's value; absent, empty and not a string alike are `undefined`. */
function text(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
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
