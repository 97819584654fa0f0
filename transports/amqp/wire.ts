import type { ConsumeMessage, GetMessage, MessageProperties, Options } from 'amqplib'
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
 * The message headers and properties stoa writes and reads. This file is the only one that
 * knows them and the body format; docs/wire.md lists them. Standard AMQP properties carry what
 * they were made for, and headers the rest, so a message stays small: its size, more than
 * anything else here, sets the cost of moving it.
 *
 * | where | name | on | value |
 * | --- | --- | --- | --- |
 * | property | `message-id` | every request | the envelope id |
 * | property | `type` | tasks, events | the task or event name (the routing key differs after a retry) |
 * | property | `app-id` | when set | the calling service |
 * | property | `content-type` | every message | `application/json` |
 * | property | `delivery-mode` | tasks, events | 2 (persistent) |
 * | property | `reply-to`, `correlation-id` | requests | RabbitMQ's direct reply-to, and the request's key |
 * | property | `expiration` | requests | the time left, ms: the broker drops a request nobody took in time, and the receiver counts its deadline from arrival with it |
 * | header | `x-stoa-trace` | when it differs from the id | the trace id shared by a chain of calls |
 * | header | `traceparent`, `tracestate` | when set | W3C Trace Context: the sender's span; its trace id is the trace when `x-stoa-trace` is absent |
 * | header | `x-stoa-token` | when set | the caller's identity token (JWT) |
 * | header | `x-stoa-timeout-ms` | tasks and events with a deadline | the time left when sent, ms; the receiver counts it from arrival on its own clock (each try gets that long); an act's is its `expiration` |
 * | header | `x-stoa-attempt` | retried tasks, events | tries already made (absent: none) |
 * | header | `stoa-delay` | retries | the backoff delay, ms: routes the copy to the matching delay queue |
 * | header | `x-stoa-error-code`, `x-stoa-error-message` | dead letters | why it was dead-lettered |
 * | header | `x-stoa-attempts` | dead letters | how many tries were made |
 * | header | `x-stoa-queue` | dead letters | the queue it was taken from |
 * | property | `timestamp` | dead letters | when it was dead-lettered (seconds since the epoch) |
 *
 * The body is the message as JSON (for tasks and events, the data). A reply's body is
 * `{"ok":true,"out":...}` or `{"ok":false,"error":{"code","message","details"}}`.
 */
export const HEADERS = {
  trace: 'x-stoa-trace',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  token: 'x-stoa-token',
  timeoutMs: 'x-stoa-timeout-ms',
  attempt: 'x-stoa-attempt',
  // Not `x-`: RabbitMQ's headers exchange ignores `x-` headers when matching, and this one routes.
  delay: 'stoa-delay',
  errorCode: 'x-stoa-error-code',
  errorMessage: 'x-stoa-error-message',
  attempts: 'x-stoa-attempts',
  queue: 'x-stoa-queue',
} as const

const JSON_TYPE = 'application/json'

/** A message ready to publish. */
export interface Outgoing {
  readonly body: Buffer
  readonly props: Options.Publish
}

/** A received request: the envelope, or why it cannot be run (a poison message). */
export type Incoming =
  | { ok: true; envelope: Envelope; attempt: number }
  | { ok: false; error: StoaError; attempt: number }

/**
 * Encodes a request (act, task or event). Tasks and events are persistent. Throws
 * `PAYLOAD_TOO_LARGE` beyond `maxBodyBytes`, `INVALID_MESSAGE` when the message is not JSON.
 */
export function encodeRequest(e: Envelope, maxBodyBytes: number, now = Date.now()): Outgoing {
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
  const headers: Record<string, unknown> = {}
  // A new chain's trace is its first message's id: sent once, as the message id.
  if (meta.trace !== meta.id) headers[HEADERS.trace] = meta.trace
  if (meta.token !== undefined) headers[HEADERS.token] = meta.token
  if (meta.traceparent !== undefined) {
    headers[HEADERS.traceparent] = meta.traceparent
    if (meta.tracestate !== undefined) headers[HEADERS.tracestate] = meta.tracestate
  }
  const props: Options.Publish = { contentType: JSON_TYPE, messageId: meta.id }
  if (meta.caller !== undefined) props.appId = meta.caller
  // The time left, not an absolute time: the hosts' clocks need not agree.
  const left = meta.deadline === undefined ? undefined : Math.max(1, meta.deadline - now)
  if (e.kind === 'act') {
    // The broker discards a request still queued when its time is up: nobody waits for it.
    // `expiration` is the time left, so it is the receiver's deadline too: no header says it
    // again, and a root act carries no header table at all (encoding and decoding one costs
    // a few µs a call on each side).
    if (left !== undefined) props.expiration = String(left)
  } else {
    if (left !== undefined) headers[HEADERS.timeoutMs] = left
    props.type = e.name
    props.persistent = true
    // A task nobody can receive comes back (basic.return) and fails rather than vanishing;
    // an event with no subscriber is simply not wanted.
    if (e.kind === 'send') props.mandatory = true
  }
  for (const _ in headers) {
    props.headers = headers
    break
  }
  return { body, props }
}

/**
 * Decodes a request taken from a queue of the given kind. The deadline is now, by this host's
 * clock, plus the time the sender allowed. For tasks and events each try gets that long, so
 * work that waited in the queue through an outage or a backoff is still done rather than
 * expiring unseen. A request (act) cannot have waited longer than that: the broker drops it
 * then (`expiration`), so its time here is at most what its caller still waits, plus what it
 * spent queued.
 */
export function decodeRequest(m: ConsumeMessage, kind: EnvelopeKind, maxBodyBytes: number, now = Date.now()): Incoming {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>
  const attempt = toInt(h[HEADERS.attempt]) ?? 0
  const fail = (error: StoaError): Incoming => ({ ok: false, error, attempt })
  if (m.content.length > maxBodyBytes) {
    return fail(
      new StoaError('PAYLOAD_TOO_LARGE', `the message is ${m.content.length} bytes; the limit is ${maxBodyBytes}`),
    )
  }
  const type = m.properties.contentType as string | undefined
  if (type !== undefined && type !== JSON_TYPE) {
    return fail(new StoaError('UNSUPPORTED_MEDIA_TYPE', `content type "${type}" is not ${JSON_TYPE}`))
  }
  let msg: unknown
  try {
    msg = JSON.parse(m.content.toString('utf8'))
  } catch {
    return fail(new StoaError('INVALID_JSON', 'the message body is not valid JSON'))
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return fail(new StoaError('INVALID_MESSAGE', 'the message must be a JSON object'))
  }
  const p = m.properties
  const id = typeof p.messageId === 'string' ? p.messageId : String(m.fields.deliveryTag)
  // An act's time left is its `expiration`; the header is read first, where a sender put it there.
  const timeoutMs = toInt(h[HEADERS.timeoutMs]) ?? (kind === 'act' ? toInt(p.expiration) : undefined)
  const deadline = timeoutMs === undefined ? undefined : now + Math.max(1, timeoutMs)
  const envelope: Envelope = {
    kind,
    msg: msg as Message,
    meta: { id, trace: str(h[HEADERS.trace]) ?? id, deadline, token: str(h[HEADERS.token]), caller: str(p.appId) },
  }
  // W3C Trace Context in the headers, as the OpenTelemetry messaging conventions carry it. An
  // invalid traceparent is ignored, as the spec asks; a valid one names the trace when
  // x-stoa-trace does not.
  const traceparent = str(h[HEADERS.traceparent])
  const parent = parseTraceparent(traceparent)
  if (parent !== undefined) {
    envelope.meta.traceparent = traceparent as string
    if (h[HEADERS.trace] === undefined) envelope.meta.trace = parent.traceId
    const state = checkTracestate(str(h[HEADERS.tracestate]))
    if (state !== undefined) envelope.meta.tracestate = state
  }
  if (kind !== 'act') {
    const name = str(p.type)
    if (name === undefined)
      return fail(
        new StoaError('INVALID_MESSAGE', `a ${kind === 'send' ? 'task' : 'event'} needs its name in the type property`),
      )
    envelope.name = name
  }
  return { ok: true, envelope, attempt }
}

/** Encodes the reply to a request. */
export function encodeReply(reply: Reply, correlationId: string | undefined): Outgoing {
  let body: Buffer
  try {
    body = Buffer.from(JSON.stringify(reply))
  } catch (err) {
    body = Buffer.from(JSON.stringify({ ok: false, error: unwritableResult(err).toJSON() }))
  }
  return { body, props: { contentType: JSON_TYPE, correlationId } }
}

/** Decodes a reply; anything malformed becomes an `ACTION_FAILED` error reply. */
export function decodeReply(content: Buffer): Reply {
  let value: unknown
  try {
    value = JSON.parse(content.toString('utf8'))
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

/** A copy of a received task or event for its next try, after `delayMs`. */
export function retryCopy(m: ConsumeMessage, attempt: number, delayMs: number): Outgoing {
  const headers = copyHeaders(m.properties)
  headers[HEADERS.attempt] = attempt
  headers[HEADERS.delay] = String(delayMs)
  return { body: m.content, props: copyProps(m.properties, headers) }
}

/** A copy of a received message for the dead-letter queue, saying why and after how many tries. */
export function deadLetterCopy(
  m: ConsumeMessage,
  error: StoaErrorJSON,
  attempts: number,
  queue: string,
  now = Date.now(),
): Outgoing {
  const headers = copyHeaders(m.properties)
  delete headers[HEADERS.delay]
  headers[HEADERS.errorCode] = error.code
  headers[HEADERS.errorMessage] = error.message
  headers[HEADERS.attempts] = attempts
  headers[HEADERS.queue] = queue
  // AMQP's timestamp property (seconds): when it was dead-lettered, for `stoa dlq --older-than`.
  return { body: m.content, props: { ...copyProps(m.properties, headers), timestamp: Math.floor(now / 1000) } }
}

/**
 * A dead letter as an operator redrives it: the message as it was first sent, back to `queue`,
 * without the dead-letter headers and with its tries counted from zero again.
 */
export function redriveCopy(m: GetMessage | ConsumeMessage): Outgoing {
  const headers = copyHeaders(m.properties)
  for (const h of [
    HEADERS.errorCode,
    HEADERS.errorMessage,
    HEADERS.attempts,
    HEADERS.queue,
    HEADERS.attempt,
    HEADERS.delay,
  ])
    delete headers[h]
  return { body: m.content, props: copyProps(m.properties, headers) }
}

/** What an operator is shown of a dead letter: why it failed, when, and which chain it belongs to. */
export interface DeadLetterInfo {
  /** The message id (`messageId`), or the broker's delivery tag when it has none. */
  readonly id: string
  readonly code: string
  readonly message: string
  readonly attempts: number
  /** The trace id: `x-stoa-trace`, else the message id. */
  readonly trace: string
  /** The queue it failed on, where a redrive sends it back. */
  readonly queue: string
  /** The task or event name. */
  readonly name: string | undefined
  /** When it was dead-lettered (ms since the epoch), when the copy says. */
  readonly deadAt: number | undefined
}

/** Reads a dead letter's headers and properties (see {@link DeadLetterInfo}). */
export function deadLetterInfo(m: GetMessage | ConsumeMessage): DeadLetterInfo {
  const p = m.properties
  const reason = deadLetterReason(p.headers as Record<string, unknown> | undefined)
  const id = typeof p.messageId === 'string' ? p.messageId : `tag-${m.fields.deliveryTag}`
  const trace = str((p.headers as Record<string, unknown> | undefined)?.[HEADERS.trace]) ?? id
  const ts = toInt(p.timestamp)
  return {
    id,
    code: str((p.headers as Record<string, unknown> | undefined)?.[HEADERS.errorCode]) ?? reason.code,
    message: reason.message,
    attempts: reason.attempts,
    trace,
    queue: reason.queue,
    name: str(p.type),
    deadAt: ts === undefined ? undefined : ts * 1000,
  }
}

/** The error carried by a dead letter's headers. */
export function deadLetterReason(headers: Record<string, unknown> | undefined): {
  code: string
  message: string
  attempts: number
  queue: string
} {
  const h = headers ?? {}
  const code = str(h[HEADERS.errorCode])
  return {
    code: isErrorCode(code) ? code : 'ACTION_FAILED',
    message: str(h[HEADERS.errorMessage]) ?? '',
    attempts: toInt(h[HEADERS.attempts]) ?? 0,
    queue: str(h[HEADERS.queue]) ?? '',
  }
}

function copyHeaders(p: MessageProperties): Record<string, unknown> {
  const headers: Record<string, unknown> = {}
  for (const [k, v] of Object.entries((p.headers ?? {}) as Record<string, unknown>)) {
    // The broker's own dead-letter bookkeeping stays with the message it describes; a fresh
    // copy without it never trips RabbitMQ's dead-letter cycle detection.
    if (k === 'x-death' || k.startsWith('x-first-death') || k.startsWith('x-last-death')) continue
    headers[k] = v
  }
  return headers
}

function copyProps(p: MessageProperties, headers: Record<string, unknown>): Options.Publish {
  // Mandatory: should the delay or dead-letter queue be missing, the copy comes back and the
  // original stays in its queue, rather than both vanishing.
  const props: Options.Publish = { headers, persistent: true, mandatory: true }
  if (p.contentType !== undefined) props.contentType = p.contentType as string
  if (p.messageId !== undefined) props.messageId = p.messageId as string
  if (p.type !== undefined) props.type = p.type as string
  if (p.appId !== undefined) props.appId = p.appId as string
  return props
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (Buffer.isBuffer(v)) return v.toString('utf8')
  return undefined
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v)
  return undefined
}
