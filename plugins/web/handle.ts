import type { CallOptions, Message, Stoa } from '../../actions/index.js'
import { StoaError, toStoaError } from '../../actions/index.js'
import type { WebRoute } from './route-map.js'
import { httpStatus } from './status.js'

/** A route as the web plugin serves it: the neutral route plus the limits of its plugin. */
export interface ServedRoute extends WebRoute {
  /** The web plugin (with its tag) that declared the route. */
  readonly plugin: string
  /** Bodies over this size are refused with 413. */
  readonly maxBodyBytes: number
  /** Request headers (lowercase) passed on to the action as `ctx.headers`. */
  readonly headers: readonly string[]
  /** Time limit of the action, ms, when the route sets one. */
  readonly timeoutMs?: number | undefined
}

/** A request reduced to what an action may see, whatever server or event carried it. */
export interface WebRequest {
  /** Path parameters: `{ id: '42' }` for `/votes/:id`. */
  readonly params: Readonly<Record<string, string>>
  /** The parsed query string. */
  readonly query: Readonly<Record<string, unknown>>
  /** The parsed JSON body (an object), or undefined when the request had none. */
  readonly body: Readonly<Record<string, unknown>> | undefined
  /** Request headers with lowercase names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
}

/** What to answer: a status, headers and a body that is already serialized. */
export interface WebResponse {
  status: number
  headers: Record<string, string>
  /** The JSON text, or undefined for an empty body (204, or an action that returned nothing). */
  body: string | undefined
}

const JSON_TYPE = 'application/json; charset=utf-8'
/** `application/json`, `application/vnd.api+json`, with or without parameters. */
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
const BEARER = /^Bearer\s+(\S+)\s*$/i
/** A caller-supplied request id is used as the message id only when it is short and plain. */
const REQUEST_ID = /^[\w.:-]{1,128}$/

/**
 * Runs a route's action for a request and builds the answer. The message is, from weakest to
 * strongest: query, body, path parameters, then the pattern's own pairs, so neither query nor
 * body can redirect a request to another action. The `Authorization: Bearer` token becomes the
 * call's identity token (not verified here), `x-request-id` its message id, and the route's
 * selected headers `ctx.headers`. Never rejects: errors become their status and a JSON body
 * `{ error: { code, message, details? } }`.
 *
 * @example
 * const res = await handleWebRequest(stoa, route, { params: { id: '7' }, query: {}, body: { choice: 'a' }, headers: {} })
 */
export function handleWebRequest(stoa: Stoa<any>, route: ServedRoute, req: WebRequest): Promise<WebResponse> {
  let opts: CallOptions
  let msg: Message
  try {
    msg = messageOf(req)
    opts = callOptions(route, req.headers)
  } catch (err) {
    return Promise.resolve(errorResponse(err))
  }
  return stoa.act(route.pattern, msg, opts).then(
    (out: unknown) => resultResponse(route.status, out, opts.id),
    (err: unknown) => errorResponse(err, opts.id),
  )
}

/**
 * Parses a request body held in memory: JSON media types only (415 otherwise), at most
 * `maxBodyBytes` (413), valid JSON (400 `INVALID_JSON`) holding an object (400
 * `INVALID_MESSAGE`). An empty body is no body.
 *
 * @example
 * parseJsonBody('application/json', Buffer.from('{"a":1}'), 1024) // { a: 1 }
 */
export function parseJsonBody(contentType: string | undefined, raw: Buffer | string, maxBodyBytes: number): Record<string, unknown> | undefined {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
  if (size === 0) return undefined
  checkContentType(contentType)
  if (size > maxBodyBytes) throw tooLarge(maxBodyBytes)
  let value: unknown
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'))
  } catch {
    // The parser's own message quotes the input; the code and a plain sentence are enough.
    throw new StoaError('INVALID_JSON', 'the request body is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StoaError('INVALID_MESSAGE', 'the request body must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** Refuses a body whose media type is not JSON with `UNSUPPORTED_MEDIA_TYPE` (415). */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || !JSON_MEDIA.test(contentType)) {
    throw new StoaError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json', { contentType: contentType ?? null })
  }
}

/** The `PAYLOAD_TOO_LARGE` error for a body over `maxBodyBytes`. */
export function tooLarge(maxBodyBytes: number): StoaError {
  return new StoaError('PAYLOAD_TOO_LARGE', `the request body is over ${maxBodyBytes} bytes`, { maxBodyBytes })
}

/**
 * The answer for an error: its code's status and `{ error: { code, message, details? } }`.
 * Anything that is not a StoaError is answered as `ACTION_FAILED` without its message.
 *
 * @example
 * errorResponse(new StoaError('FORBIDDEN', 'not yours')).status // 403
 */
export function errorResponse(err: unknown, requestId?: string): WebResponse {
  const e = toStoaError(err)
  const body = JSON.stringify({ error: e.toJSON() })
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) }
  if (requestId !== undefined) headers['x-request-id'] = requestId
  return { status: httpStatus[e.code], headers, body }
}

function resultResponse(status: number, out: unknown, requestId: string | undefined): WebResponse {
  // An action that returns nothing answers with an empty body: 204 where it would be 200.
  if (out === undefined) {
    const headers: Record<string, string> = {}
    if (requestId !== undefined) headers['x-request-id'] = requestId
    return { status: status === 200 ? 204 : status, headers, body: undefined }
  }
  const body = JSON.stringify(out)
  const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) }
  if (requestId !== undefined) headers['x-request-id'] = requestId
  return { status, headers, body }
}

function messageOf(req: WebRequest): Message {
  // Spreading defines every key, `__proto__` included, as a plain own property: nothing a
  // client sends can reach a prototype. The kernel then puts the pattern's pairs on top.
  return { ...req.query, ...req.body, ...req.params }
}

function callOptions(route: ServedRoute, headers: WebRequest['headers']): CallOptions {
  const opts: CallOptions = { caller: 'http' }
  const auth = one(headers.authorization)
  if (auth !== undefined) {
    const m = BEARER.exec(auth)
    if (m === null) throw new StoaError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"')
    opts.token = m[1]
  }
  const id = one(headers['x-request-id'])
  if (id !== undefined && REQUEST_ID.test(id)) opts.id = id
  if (route.timeoutMs !== undefined) opts.timeoutMs = route.timeoutMs
  if (route.headers.length > 0) {
    const picked: Record<string, string> = {}
    for (const name of route.headers) {
      const v = headers[name]
      if (v !== undefined) picked[name] = typeof v === 'string' ? v : v.join(', ')
    }
    opts.headers = picked
  }
  return opts
}

function one(v: string | readonly string[] | undefined): string | undefined {
  return v === undefined || typeof v === 'string' ? v : v[0]
}
