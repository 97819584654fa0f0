import { parse as parseQuery } from 'node:querystring'
import type { CallOptions } from '../context.js'
import type { Clock } from '../deadlines.js'
import type { ResponseHeaders } from '../envelope.js'
import { StoaError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Message } from '../pattern.js'
import { mergeMessages } from '../pattern.js'
import { checkTracestate, parseTraceparent } from '../trace-context.js'
import type { WebResponse } from './answer.js'
import { errorResponse, redirectResponse, unmatchedResponse } from './answer.js'
import type { HttpHeaders } from './body.js'
import { parseJsonBody } from './body.js'
import { checkSameOrigin, readCookie } from './cookie.js'
import type { Match } from './match.js'
import { createMatcher } from './match.js'
import type { CorsPolicy, EventRecords, ServedRoute } from './routes.js'
import { HTTP_METHODS } from './routes.js'

/*
 * The one owner of a web request, whichever front carried it (serveWeb on node:http, mountWeb
 * inside express, API Gateway events): a request description in, an answer out, in this order:
 *
 *   match (400 on a path parameter that is not percent-encoding)
 *   -> no route: 404, or 405 / 204 to OPTIONS on a path some route has (or back to the front)
 *   -> the route's own middleware, as the front can run it (or back to it, or 500)
 *   -> seneca-web's `secure` (302 to `fail`, or 401)
 *   -> the body (415, 413, 400)
 *   -> a route's own event stream, to a request asking for `text/event-stream` (or 404 on a
 *      front that cannot hold one)
 *   -> the action, its message and call options
 *   -> the action's `http$` status and headers
 *   -> seneca-web's `redirect` on a success (302)
 *   -> no body to HEAD
 *
 * A front translates its native request into an {@link HttpRequest} and writes the
 * {@link WebOutcome}; it decides nothing else. A route option (CORS preflight, say) is a change
 * to this file.
 */

/**
 * A request as the pipeline reads it. The body and the user are read lazily: only for a route
 * that takes them, and the user only after the route's middleware ran (it may sign one in).
 */
export interface HttpRequest {
  readonly method: string
  /** The path as sent, without the query and before percent-decoding. */
  readonly path: string
  /** The query string (after `?`, undefined when none), or the query already parsed. */
  readonly query: string | Readonly<Record<string, unknown>> | undefined
  /** Request headers with lowercase names. */
  readonly headers: HttpHeaders
  /** The body, once the route is known; see {@link RequestBody}. */
  body(maxBodyBytes: number): RequestBody
  /** The user earlier middleware signed in (express's `req.user`), for `secure` and seneca-web's `args.user`. */
  user?(): unknown
  /** The most time the front leaves the action, ms (what Lambda has left): it caps the route's limit. */
  readonly limitMs?: number | undefined
}

/**
 * A request's body as its front has it: `undefined` when there is none; the bytes or text held
 * in memory (API Gateway); `{ parsed }` when a body parser ahead of stoa consumed it; or the
 * bytes still arriving (the kit's `readBody`), refused as they come.
 */
export type RequestBody = undefined | string | Buffer | { readonly parsed: unknown } | Promise<Buffer>

/**
 * What the pipeline made of a request: the answer to write; `'pass'` when it is not the
 * pipeline's (no route, on a front whose app answers the rest; a route whose middleware runs
 * elsewhere or handed it on); `'done'` when the route's middleware answered it already.
 */
export type WebOutcome = WebResponse | StreamOpen | EventRecords | 'pass' | 'done'

/**
 * A stream route's request that passed every check (identity, the route's `open` action, the
 * connection limit): the front now holds the connection open and joins `route.stream.source`.
 */
export interface StreamOpen {
  readonly kind: 'stream'
  readonly route: ServedRoute
  /** The caller's call options (its token): what the route's `map` action runs with. */
  readonly opts: CallOptions
  /** The route's message (query and path parameters), given to `map` beside each event. */
  readonly msg: Message
  /** Where a reconnecting client asks to resume (`Last-Event-ID`, or the `lastEventId` query key). */
  readonly lastEventId: string | undefined
  /** Headers the stream's answer carries beside its own: CORS, for an allowed origin. */
  readonly headers: Record<string, string | string[]>
}

/**
 * How a route's own middleware runs on a front: `'refuse'`, it cannot (the route answers 500
 * rather than run without, which could skip a check); `'pass'`, elsewhere (the request goes back
 * to the front); or a runner resolving `'next'` to go on to the route, `'pass'` when a middleware
 * handed the request on (`next('route')`), `'done'` when it answered or failed it.
 */
export type MiddlewarePolicy<R extends HttpRequest> =
  | 'refuse'
  | 'pass'
  | ((route: ServedRoute, req: R) => Promise<'next' | 'pass' | 'done'>)

/** How a front wants the pipeline to behave where fronts differ. */
export interface WebPipelineOptions<R extends HttpRequest> {
  /** A request no route takes: answered 404 / 405 / 204 (`'answer'`, the default), or `'pass'`ed back. */
  unmatched?: 'answer' | 'pass'
  /** Route middleware: see {@link MiddlewarePolicy}. Default `'refuse'`. */
  middleware?: MiddlewarePolicy<R>
  /** The front's name, for the answer of a route whose middleware it refuses: `Lambda`. */
  front?: string
  /** Whether the front holds connections open for stream routes; without, they answer 404. */
  streams?: boolean
}

/** What the pipeline needs of the instance serving the routes. */
export interface WebHost {
  act(pattern: string, msg: Message, opts: CallOptions): Promise<unknown>
  readonly log: Logger
  /** The instance's clock: stream heartbeats are timed by it (see `Stoa.clock`). */
  readonly clock: Clock
}

/** One route table served, for one front. */
export interface WebPipeline<R extends HttpRequest> {
  /** The table served. */
  readonly routes: readonly ServedRoute[]
  /** Its matcher. */
  readonly find: (method: string, path: string) => Match<ServedRoute> | undefined
  /** Runs a request through every step; synchronous where no step waits. Never rejects. */
  handle(req: R): WebOutcome | Promise<WebOutcome>
  /** The answer for a request nothing took: 404, or 405 / 204 on a path some route has. */
  unmatched(method: string, path: string): WebResponse
}

/** The result key holding an {@link HttpReply}. */
const REPLY_KEY = 'http$'
const JSON_TYPE = 'application/json; charset=utf-8'
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

/**
 * What an action may ask of the HTTP answer, under the `http$` key of its result: another
 * success or redirect status, and response headers. The web pipeline takes the key off the
 * body; every other transport carries the result as it is, so a gateway's route forwarding to
 * a remote action still answers as the action asked.
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

/**
 * The web pipeline for a route table (what `webRoutes(stoa)` lists), as one front serves it.
 * The message is, from weakest to strongest: query, body, path parameters, then the pattern's
 * own pairs, so neither query nor body can redirect a request to another action. The
 * `Authorization: Bearer` token (or, with the route's `cookie`, the login cookie) becomes the
 * call's identity token (not verified here), `x-request-id` its message id, and the route's
 * selected headers `ctx.headers`. Errors become their status and `{ error: { code, message,
 * details? } }`.
 *
 * @example
 * const pipeline = createWebPipeline(stoa, await webRoutes(stoa))
 * const answer = await pipeline.handle({ method: 'GET', path: '/sum', query: 'left=1&right=2', headers: {}, body: () => undefined })
 */
export function createWebPipeline<R extends HttpRequest>(
  host: WebHost,
  routes: readonly ServedRoute[],
  options: WebPipelineOptions<R> = {},
): WebPipeline<R> {
  const find = createMatcher(routes)
  const passUnmatched = options.unmatched === 'pass'
  const middleware = options.middleware ?? 'refuse'
  const front = options.front ?? 'this server'
  if (middleware === 'refuse') {
    for (const r of routes) {
      if (hasMiddleware(r))
        host.log.warn(
          { route: `${r.method} ${r.path}` },
          `this route runs express middleware, which does not run on ${front}: it will answer 500`,
        )
    }
  }
  const unmatched = (method: string, path: string): WebResponse => unmatchedResponse(find, method, path)

  const withCors = createCors(routes, find)

  const handle = (req: R): WebOutcome | Promise<WebOutcome> => {
    if (withCors === undefined) return answer(req)
    const origin = one(req.headers.origin)
    if (origin === undefined) return answer(req)
    const preflight = withCors.preflight(req, origin)
    if (preflight !== undefined) return preflight
    const out = answer(req)
    return out instanceof Promise ? out.then((o) => withCors.add(o, req, origin)) : withCors.add(out, req, origin)
  }

  const answer = (req: R): WebOutcome | Promise<WebOutcome> => {
    let match: Match<ServedRoute> | undefined
    try {
      match = find(req.method, req.path)
    } catch (err) {
      return head(req, errorResponse(err))
    }
    if (match === undefined) return passUnmatched ? 'pass' : head(req, unmatched(req.method, req.path))
    const route = match.route
    if (route.middleware === undefined || route.middleware.length === 0) return guarded(route, match.params, req)
    if (middleware === 'pass') return 'pass'
    if (middleware === 'refuse') {
      return head(
        req,
        errorResponse(
          new StoaError(
            'ACTION_FAILED',
            `route ${route.method} ${route.path} runs express middleware, which does not run on ${front}`,
          ),
        ),
      )
    }
    const params = match.params
    return middleware(route, req).then(
      (step) => (step === 'next' ? guarded(route, params, req) : step),
      (err: unknown) => head(req, errorResponse(err)),
    )
  }

  /** From `secure` on: the checks, the body, the action and its answer. */
  const guarded = (route: ServedRoute, params: Record<string, string>, req: R): WebOutcome | Promise<WebOutcome> => {
    if (route.secure !== undefined && (req.user === undefined || req.user() == null)) {
      const fail = route.secure.fail
      return fail !== undefined
        ? redirectResponse(fail)
        : head(req, errorResponse(new StoaError('UNAUTHENTICATED', 'this route needs a signed-in user')))
    }
    const q = req.query
    const query = q === undefined ? {} : typeof q === 'string' ? parseQueryString(q) : q
    if (route.stream !== undefined) return stream(route, params, query, req)
    let raw: RequestBody
    try {
      raw = req.body(route.maxBodyBytes)
    } catch (err) {
      return head(req, errorResponse(err))
    }
    if (raw === undefined) return run(route, params, query, undefined, req)
    if (raw instanceof Promise) {
      // One promise for the answer, settled by the action's own: returning that from the
      // body's `then` would cost the request two more turns of the microtask queue.
      return new Promise<WebOutcome>((resolve) => {
        raw.then(
          (bytes) => {
            const failed = (err: unknown) => resolve(head(req, errorResponse(err)))
            try {
              const out = withBody(route, params, query, bytes, req)
              if (out instanceof Promise) out.then(resolve, failed)
              else resolve(out)
            } catch (err) {
              failed(err)
            }
          },
          (err: unknown) => {
            const answer = errorResponse(err)
            // What is left of an over-long body is not read: close the connection after
            // answering rather than let the next request on it start in the middle of this one.
            if (err instanceof StoaError && err.code === 'PAYLOAD_TOO_LARGE') answer.headers.connection = 'close'
            resolve(head(req, answer))
          },
        )
      })
    }
    if (typeof raw === 'string' || Buffer.isBuffer(raw)) return withBody(route, params, query, raw, req)
    const given = raw.parsed
    if (given === null || typeof given !== 'object' || Array.isArray(given) || Buffer.isBuffer(given)) {
      return head(req, errorResponse(new StoaError('INVALID_MESSAGE', 'the request body must be a JSON object')))
    }
    return run(route, params, query, given as Record<string, unknown>, req)
  }

  const withBody = (
    route: ServedRoute,
    params: Record<string, string>,
    query: Readonly<Record<string, unknown>>,
    raw: string | Buffer,
    req: R,
  ): WebResponse | EventRecords | Promise<WebResponse | EventRecords> => {
    let body: Record<string, unknown> | undefined
    try {
      body = parseJsonBody(one(req.headers['content-type']), raw, route.maxBodyBytes)
    } catch (err) {
      return head(req, errorResponse(err))
    }
    // The body was parsed here: the message may be made in it rather than in a copy.
    return run(route, params, query, body, req, true)
  }

  /** A stream route: identity, the connection limit, the `open` action; then the front holds it. */
  const stream = (
    route: ServedRoute,
    params: Record<string, string>,
    query: Readonly<Record<string, unknown>>,
    req: R,
  ): WebResponse | StreamOpen | Promise<WebResponse | StreamOpen> => {
    const s = route.stream!
    if (options.streams !== true)
      return errorResponse(new StoaError('NOT_FOUND', `route ${route.path} streams events, which ${front} cannot`))
    let opts: CallOptions
    let msg: Message
    try {
      msg = flatMessage(query, undefined, params, false)
      opts = callOptions(route, req)
    } catch (err) {
      return errorResponse(err)
    }
    if (s.source.full())
      return errorResponse(
        new StoaError('OVERLOADED', 'this instance holds as many stream connections as it takes', {
          retryAfterMs: 1000,
        }),
      )
    const last =
      one(req.headers['last-event-id']) ?? (typeof msg.lastEventId === 'string' ? msg.lastEventId : undefined)
    const open: StreamOpen = { kind: 'stream', route, opts, msg, lastEventId: last, headers: {} }
    if (s.open === undefined) return open
    return host.act(s.open, msg, opts).then(
      () => open,
      (err: unknown) => errorResponse(err, opts.id),
    )
  }

  const run = (
    route: ServedRoute,
    params: Record<string, string>,
    query: Readonly<Record<string, unknown>>,
    body: Record<string, unknown> | undefined,
    req: R,
    /** Whether `body` is the pipeline's own parse, which no one else holds. */
    owned = false,
  ): WebResponse | EventRecords | Promise<WebResponse | EventRecords> => {
    let opts: CallOptions
    let msg: Message
    try {
      msg =
        route.message === 'flat'
          ? flatMessage(query, body, params, owned)
          : senecaWebMessage(route, params, query, body, req.user?.())
      opts = callOptions(route, req)
    } catch (err) {
      return head(req, errorResponse(err))
    }
    if (route.eventStream !== undefined && wantsEventStream(req.headers.accept)) {
      if (options.streams !== true)
        return errorResponse(new StoaError('NOT_FOUND', `route ${route.path} streams events, which ${front} cannot`))
      return route.eventStream
        .open({ headers: req.headers, msg, opts })
        .then(undefined, (err: unknown) => errorResponse(err, opts.id))
    }
    const gathered = new GatheredHeaders()
    opts.responseHeaders = gathered
    return host.act(route.pattern, msg, opts).then(
      (out: unknown) => {
        let answer: WebResponse
        try {
          answer = gathered.onto(resultResponse(route.status, out, opts.id))
        } catch (err) {
          // The action ran, but its result cannot be sent: a bad http$, or a value JSON cannot
          // hold (a BigInt, a cycle). Its caller gets ACTION_FAILED; the log gets the reason.
          host.log.error(
            { pattern: route.pattern, route: `${route.method} ${route.path}`, id: opts.id, err: String(err) },
            'the result cannot be sent as JSON',
          )
          return head(req, errorResponse(err, opts.id))
        }
        if (route.redirect !== undefined && answer.status < 300) return redirectResponse(route.redirect)
        return head(req, answer)
      },
      (err: unknown) => head(req, gathered.onto(errorResponse(err, opts.id))),
    )
  }

  return { routes, find, handle, unmatched }
}

/** Header names hooks were found allowed to add, each already lowercase. */
const addable = new Set<string>()

/**
 * The headers hooks add to one request's answer while its action runs (`ctx.responseHeaders`):
 * each name's members in the order added, joined as one list field.
 */
class GatheredHeaders implements ResponseHeaders {
  private fields: Record<string, string> | undefined

  append(name: string, value: string): void {
    let lower = name
    if (!addable.has(name)) {
      lower = name.toLowerCase()
      if (!HEADER_NAME.test(name) || OWN_HEADERS.has(lower))
        throw new StoaError('ACTION_FAILED', `response header "${lower}" cannot be added by a hook`)
      // Hooks add the same few names on every call: each is checked (and lowercased) once.
      if (lower === name && addable.size < 64) addable.add(name)
    }
    if (!HEADER_VALUE.test(value))
      throw new StoaError('ACTION_FAILED', `response header "${lower}" must be a string without control characters`)
    const fields = (this.fields ??= {})
    const had = fields[lower]
    fields[lower] = had === undefined ? value : `${had}, ${value}`
  }

  /**
   * `answer` with the gathered headers it does not set itself: the action's `http$` headers
   * and a refusal's own (a 429's `RateLimit` fields) win.
   */
  onto(answer: WebResponse): WebResponse {
    const fields = this.fields
    if (fields === undefined) return answer
    for (const name in fields) if (!Object.hasOwn(answer.headers, name)) answer.headers[name] = fields[name]!
    return answer
  }
}

/**
 * CORS, for the route tables that ask for it: a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) on a path whose routes have a policy is answered here, 204,
 * with the `Access-Control-Allow-*` headers when the origin, method and headers are allowed and
 * without them otherwise (the browser then refuses the request); an answer to an allowed origin
 * gets `Access-Control-Allow-Origin` (and `-Credentials`, `-Expose-Headers`). A disallowed origin
 * never gets `Access-Control-Allow-Origin`. Undefined when no route has a policy: nothing to do.
 */
function createCors(
  routes: readonly ServedRoute[],
  find: (method: string, path: string) => Match<ServedRoute> | undefined,
):
  | {
      preflight(req: HttpRequest, origin: string): WebResponse | undefined
      add(out: WebOutcome, req: HttpRequest, origin: string): WebOutcome
    }
  | undefined {
  if (!routes.some((r) => r.cors !== undefined)) return undefined
  const policyAt = (method: string, path: string): CorsPolicy | undefined => {
    try {
      const own = find(method, path)?.route.cors
      if (own !== undefined) return own
      for (const m of HTTP_METHODS) {
        const cors = find(m, path)?.route.cors
        if (cors !== undefined) return cors
      }
    } catch {
      // A bad path parameter: the request's own answer says so.
    }
    return undefined
  }
  const allowed = (p: CorsPolicy, origin: string) => p.origins.includes(origin) || p.origins.includes('*')
  const allowOrigin = (p: CorsPolicy, origin: string, headers: Record<string, string | string[]>) => {
    // With credentials the browser refuses `*`: the origin is named, and the answer varies by it.
    headers['access-control-allow-origin'] = p.origins.includes('*') && !p.credentials ? '*' : origin
    if (p.credentials) headers['access-control-allow-credentials'] = 'true'
    headers.vary = 'Origin'
  }
  return {
    preflight(req, origin) {
      if (req.method !== 'OPTIONS') return undefined
      const asked = one(req.headers['access-control-request-method'])
      if (asked === undefined) return undefined
      const p = policyAt(asked, req.path)
      if (p === undefined) return undefined
      const headers: Record<string, string | string[]> = { vary: 'Origin', 'content-length': '0' }
      const wanted = (one(req.headers['access-control-request-headers']) ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== '')
      const ok =
        allowed(p, origin) && p.methods.includes(asked.toUpperCase()) && wanted.every((h) => p.headers.includes(h))
      if (ok) {
        allowOrigin(p, origin, headers)
        headers['access-control-allow-methods'] = p.methods.join(', ')
        if (p.headers.length > 0) headers['access-control-allow-headers'] = p.headers.join(', ')
        headers['access-control-max-age'] = String(p.maxAgeSec)
      }
      return { status: 204, headers, body: undefined }
    },
    add(out, req, origin) {
      if (typeof out === 'string') return out
      const p = policyAt(req.method, req.path)
      if (p === undefined || !allowed(p, origin)) return out
      // A stream route's server-sent events too: an EventSource on another origin reads them only so.
      const answer = out as WebResponse | EventRecords | StreamOpen
      allowOrigin(p, origin, answer.headers)
      if (p.exposeHeaders.length > 0) answer.headers['access-control-expose-headers'] = p.exposeHeaders.join(', ')
      return answer
    },
  }
}

/**
 * Whether an `Accept` header asks for server-sent events: `text/event-stream` among its media
 * ranges (with or without parameters), as graphql-sse's client and EventSource send it.
 */
function wantsEventStream(accept: string | readonly string[] | undefined): boolean {
  const text = accept === undefined ? '' : typeof accept === 'string' ? accept : accept.join(',')
  if (text.indexOf('text/event-stream') < 0) return false
  return text.split(',').some((range) => range.split(';')[0]!.trim().toLowerCase() === 'text/event-stream')
}

/** A HEAD answer has the GET answer's status and headers and no body. */
function head(req: HttpRequest, answer: WebResponse): WebResponse {
  if (req.method === 'HEAD') answer.body = undefined
  return answer
}

/** Most pairs a query string gives, as node's querystring (and so express) reads it. */
const MAX_QUERY_KEYS = 1000

/**
 * A query string parsed as express parses it (node's querystring: `+` is a space, repeated
 * keys give arrays, bad percent-encoding is kept as it is, at most 1000 pairs), into a plain
 * object. querystring's own result has a null prototype, which V8 keeps in dictionary mode:
 * every copy of it (the kernel copies the message under the pattern's pairs) then takes the
 * slow path, and with the parse that was a fifth of the pipeline's time on a GET (bench/http,
 * --cpu-prof). A `__proto__` key is defined as a plain own property: no key reaches a prototype.
 */
export function parseQueryString(search: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  let start = 0
  let pairs = 0
  while (start <= search.length && pairs < MAX_QUERY_KEYS) {
    let end = search.indexOf('&', start)
    if (end < 0) end = search.length
    if (end > start) {
      const eq = search.indexOf('=', start)
      const cut = eq < 0 || eq > end ? end : eq
      const key = decodePart(search.slice(start, cut))
      const value = cut === end ? '' : decodePart(search.slice(cut + 1, end))
      // Bad percent-encoding: querystring keeps what it cannot decode, its own way.
      if (key === undefined || value === undefined) return plain(parseQuery(search))
      const had = Object.hasOwn(out, key) ? out[key] : undefined
      if (had === undefined) define(out, key, value)
      else if (Array.isArray(had)) had.push(value)
      else define(out, key, [had, value])
      pairs++
    }
    start = end + 1
  }
  return out
}

/** A query part decoded, or undefined when it is not valid percent-encoding. */
function decodePart(s: string): string | undefined {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

function plain(parsed: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k in parsed) define(out, k, parsed[k])
  return out
}

function define(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

function hasMiddleware(route: ServedRoute): boolean {
  return route.middleware !== undefined && route.middleware.length > 0
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
  if (extra === undefined && requestId === undefined && out !== undefined) {
    // The common answer, its headers made in one literal (one object shape, no additions).
    const body = JSON.stringify(out)
    return {
      status,
      headers: { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) },
      body,
    }
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

function flatMessage(
  query: Readonly<Record<string, unknown>>,
  body: Record<string, unknown> | undefined,
  params: Record<string, string>,
  owned: boolean,
): Message {
  // The kernel copies the message under the pattern's pairs: a GET with only a query needs no
  // copy of its own, nor a body the pipeline parsed itself and no query comes under (the path
  // parameters are written into it, as the copy would have them). Every key, `__proto__`
  // included, is a plain own property, so nothing a client sends reaches a prototype.
  if (body === undefined && !hasKeys(params)) return query as Message
  if (owned && body !== undefined && !hasKeys(query)) {
    for (const k in params) define(body, k, params[k])
    return body
  }
  return mergeMessages(query, body, params)
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
function senecaWebMessage(
  route: ServedRoute,
  params: Record<string, string>,
  query: Readonly<Record<string, unknown>>,
  body: Record<string, unknown> | undefined,
  user: unknown,
): Message {
  return {
    args: {
      params: { ...params },
      query: { ...query },
      body: body === undefined ? {} : body,
      route: { method: route.method, path: route.path, pattern: route.pattern },
      user: user ?? null,
    },
  }
}

function callOptions(route: ServedRoute, req: HttpRequest): CallOptions {
  const headers = req.headers
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
  // The route's own limit, never past what the front leaves (Lambda's remaining time).
  const limit = req.limitMs
  const own = route.timeoutMs
  if (own !== undefined) opts.timeoutMs = limit !== undefined && limit < own ? limit : own
  else if (limit !== undefined) opts.timeoutMs = limit
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
