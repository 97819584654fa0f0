import type { CallOptions, Message, Stoa } from '../../actions/index.js'
import { ERRORS, StoaError } from '../../actions/index.js'
import { checkTracestate, mergeMessages, parseTraceparent, retryAfter, toStoaError } from '../../actions/transport.js'
import { checkSameOrigin, readCookie } from './cookie.js'
import type { Match } from './match.js'
import { HTTP_METHODS } from './options.js'
import type { WebRoute } from './route-map.js'

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
  /**
   * The message's shape: `flat` (query, body and path parameters merged) or `seneca-web`
   * (`{ args: { params, query, body, route, user } }`, what seneca-web's actions read).
   */
  readonly message: 'flat' | 'seneca-web'
  /** The login cookie the token may come in, and the origins allowed to change state with it. */
  readonly cookie?: { readonly name: string; readonly allowedOrigins: readonly string[] } | undefined
}

/**
 * What an action may ask of the HTTP answer, under the `http$` key of its result: another
 * success or redirect status, and response headers. The web plugin takes the key off the body;
 * every other transport carries the result as it is, so a gateway's route forwarding to a
 * remote action still answers as the action asked.
 *
 * @example
 * stoa.add('role:vote,cmd:create', async (msg) => {
 *   const vote = await votes.insert(msg)
 *   return { ...vote, http$: { status: 201, headers: { location: `/votes/${vote.id}` } } satisfies HttpReply }
 * })
 */
export interface HttpReply {
  /** 200 to 399; errors are thrown as a `StoaError`, so that every transport sees them fail. */
  status?: number
  /** Response headers; `content-type`, `content-length`, framing and `x-request-id` stay stoa's. */
  headers?: Record<string, string | string[]>
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
  /** The user earlier middleware signed in (express's `req.user`), for seneca-web's `args.user`. */
  readonly user?: unknown
}

/** What to answer: a status, headers and a body that is already serialized. */
export interface WebResponse {
  status: number
  headers: Record<string, string | string[]>
  /** The JSON text, or undefined for an empty body (204, or an action that returned nothing). */
  body: string | undefined
}

const JSON_TYPE = 'application/json; charset=utf-8'
/** `application/json`, `application/vnd.api+json`, with or without parameters. */
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
const BEARER = /^Bearer\s+(\S+)\s*$/i
/** A caller-supplied request id is used as the message id only when it is short and plain. */
const REQUEST_ID = /^[\w.:-]{1,128}$/
/** An HTTP header name (RFC 9110 token) and a value node will write as it is. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** Headers that describe the body or the connection: stoa sets them, an action may not. */
const OWN_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'trailer',
  'x-request-id',
])
/** The result key holding an {@link HttpReply}. */
const REPLY_KEY = 'http$'

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
    msg = route.message === 'flat' ? messageOf(req) : senecaWebMessage(route, req)
    opts = callOptions(route, req.headers)
  } catch (err) {
    return Promise.resolve(errorResponse(err))
  }
  return stoa.act(route.pattern, msg, opts).then(
    (out: unknown) => {
      try {
        return resultResponse(route.status, out, opts.id)
      } catch (err) {
        // The action ran, but its result cannot be sent: a bad http$, or a value JSON cannot
        // hold (a BigInt, a cycle). Its caller gets ACTION_FAILED; the log gets the reason.
        stoa.log.error(
          { pattern: route.pattern, route: `${route.method} ${route.path}`, id: opts.id, err: String(err) },
          'the result cannot be sent as JSON',
        )
        return errorResponse(err, opts.id)
      }
    },
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
export function parseJsonBody(
  contentType: string | undefined,
  raw: Buffer | string,
  maxBodyBytes: number,
): Record<string, unknown> | undefined {
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
    throw new StoaError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json', {
      contentType: contentType ?? null,
    })
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
  const headers: Record<string, string> = {
    'content-type': JSON_TYPE,
    'content-length': String(Buffer.byteLength(body)),
  }
  if (requestId !== undefined) headers['x-request-id'] = requestId
  // RFC 6750 §3: a 401 names the scheme it wants, and says when the token given was bad.
  if (e.code === 'UNAUTHENTICATED')
    headers['www-authenticate'] =
      e.details?.reason === 'missing' || e.details === undefined ? 'Bearer' : 'Bearer error="invalid_token"'
  const after = retryAfter(e)
  if (after !== undefined) headers['retry-after'] = String(after)
  return { status: ERRORS[e.code].http, headers, body }
}

/**
 * The answer for a request no route took, where stoa owns the server: a path some route has,
 * asked with another method, gets 204 to `OPTIONS` and 405 otherwise, each with `Allow` (HEAD
 * wherever GET is, and OPTIONS); any other path 404. The 405 is `METHOD_NOT_ALLOWED`, with the
 * methods in `details.allow`. `find` is the route
 * table's matcher ({@link createMatcher}).
 *
 * @example
 * const find = createMatcher(routes)
 * unmatchedResponse(find, 'DELETE', '/sum').headers.allow // 'GET, HEAD, OPTIONS'
 */
export function unmatchedResponse(
  find: (method: string, path: string) => Match<ServedRoute> | undefined,
  method: string,
  path: string,
): WebResponse {
  const allow: string[] = []
  for (const m of HTTP_METHODS) {
    if (m === 'OPTIONS') continue
    try {
      if (find(m, path) !== undefined) allow.push(m)
    } catch {
      // A route's path matched but its parameter is not valid percent-encoding: the path
      // exists all the same.
      allow.push(m)
    }
  }
  if (allow.length === 0) return errorResponse(new StoaError('NOT_FOUND', `no route for ${method} ${path}`))
  allow.push('OPTIONS')
  const header = allow.join(', ')
  if (method === 'OPTIONS') return { status: 204, headers: { allow: header }, body: undefined }
  const answer = errorResponse(
    new StoaError('METHOD_NOT_ALLOWED', `no route for ${method} ${path}; it answers ${header}`, { allow }),
  )
  answer.headers.allow = header
  return answer
}

function resultResponse(status: number, out: unknown, requestId: string | undefined): WebResponse {
  let extra: Record<string, string | string[]> | undefined
  if (out !== null && typeof out === 'object' && Object.hasOwn(out, REPLY_KEY)) {
    const { [REPLY_KEY]: reply, ...rest } = out as Record<string, unknown>
    const asked = checkReply(reply)
    if (asked.status !== undefined) status = asked.status
    extra = asked.headers
    // A result that was only the directive has no body, as if the action returned nothing.
    out = Object.keys(rest).length === 0 ? undefined : rest
  }
  const headers: Record<string, string | string[]> = extra === undefined ? {} : { ...extra }
  if (requestId !== undefined) headers['x-request-id'] = requestId
  // An action that returns nothing answers with an empty body: 204 where it would be 200.
  if (out === undefined) return { status: status === 200 ? 204 : status, headers, body: undefined }
  const body = JSON.stringify(out)
  headers['content-type'] = JSON_TYPE
  headers['content-length'] = String(Buffer.byteLength(body))
  return { status, headers, body }
}

/** Checks an action's `http$`: a mistake in it is the action's failure, answered 500. */
function checkReply(reply: unknown): { status?: number; headers?: Record<string, string | string[]> } {
  const bad = (why: string) => new StoaError('ACTION_FAILED', `the action's ${REPLY_KEY} ${why}`)
  if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) throw bad('must be an object')
  const { status, headers, ...unknown } = reply as Record<string, unknown>
  const stray = Object.keys(unknown)
  if (stray.length > 0) throw bad(`has unknown keys: ${stray.join(', ')}`)
  if (status !== undefined && (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 399)) {
    throw bad('status must be an integer from 200 to 399; failures are thrown as a StoaError')
  }
  if (headers === undefined) return status === undefined ? {} : { status: status as number }
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw bad('headers must be an object')
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (!HEADER_NAME.test(name)) throw bad(`header "${name}" is not a valid header name`)
    if (OWN_HEADERS.has(lower)) throw bad(`header "${lower}" is set by stoa`)
    const values = Array.isArray(value) ? value : [value]
    if (values.length === 0 || !values.every((v) => typeof v === 'string' && HEADER_VALUE.test(v))) {
      throw bad(`header "${lower}" must be a string (or strings) without control characters`)
    }
    out[lower] = Array.isArray(value) ? [...(value as string[])] : (value as string)
  }
  return status === undefined ? { headers: out } : { status: status as number, headers: out }
}

function messageOf(req: WebRequest): Message {
  // The kernel copies the message under the pattern's pairs: a GET with only a query needs no
  // copy of its own. Both copies define every key, `__proto__` included, as a plain own
  // property, so nothing a client sends reaches a prototype.
  if (req.body === undefined && !hasKeys(req.params)) return req.query
  return mergeMessages(req.query, req.body, req.params)
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true
  return false
}

/**
 * The message seneca-web's express adapter builds: `args` holding the request's parts and the
 * route. Its `request$` and `response$` (the live express objects) have no equivalent: they
 * cannot cross a transport, and an action answers through its result.
 */
function senecaWebMessage(route: ServedRoute, req: WebRequest): Message {
  return {
    args: {
      params: { ...req.params },
      query: { ...req.query },
      body: req.body === undefined ? {} : req.body,
      route: { method: route.method, path: route.path, pattern: route.pattern },
      user: req.user ?? null,
    },
  }
}

function callOptions(route: ServedRoute, headers: WebRequest['headers']): CallOptions {
  const opts: CallOptions = { caller: 'http' }
  const auth = one(headers.authorization)
  if (auth !== undefined) {
    const m = BEARER.exec(auth)
    if (m === null) throw new StoaError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"')
    opts.token = m[1]
  } else if (route.cookie !== undefined) {
    // The header wins; the cookie is the browser's way of sending the same token. Never the
    // query string or the body: a token there is ignored like any other field.
    const token = readCookie(one(headers.cookie), route.cookie.name)
    if (token !== undefined) {
      checkSameOrigin(route.method, headers, route.cookie.allowedOrigins)
      opts.token = token
    }
  }
  const id = one(headers['x-request-id'])
  if (id !== undefined && REQUEST_ID.test(id)) opts.id = id
  if (route.timeoutMs !== undefined) opts.timeoutMs = route.timeoutMs
  // W3C Trace Context: the caller's span names the trace; an invalid one is ignored (the spec).
  const traceparent = one(headers.traceparent)
  const parent = parseTraceparent(traceparent)
  if (parent !== undefined) {
    opts.trace = parent.traceId
    opts.traceparent = traceparent
    const state = checkTracestate(one(headers.tracestate))
    if (state !== undefined) opts.tracestate = state
  }
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
