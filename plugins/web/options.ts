import { z } from 'zod'
import { COOKIE_NAME, TOKEN_COOKIE } from './cookie.js'
import { STREAM_DEFAULTS, WEB_DEFAULTS } from './defaults.js'

/** A success status an action's route may answer with instead of 200 (201 Created, 202 Accepted...). */
const successStatus = z.number().int().min(200).max(299)

/**
 * Express middleware a seneca-web route runs before its action: a function, or the name of one
 * given to `mountWeb` / `serveWeb` (seneca-web's `options.middleware`).
 */
const middleware = z.union([
  z.string().min(1),
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'must be a function or a name'),
])
const middlewareList = z.union([middleware, z.array(middleware)])
/** Where a redirect goes: written as the Location header as it is, so printable ASCII only. */
const location = z.string().regex(/^[\x21-\x7e]+$/, 'must be a path or URL of printable ASCII, without spaces')

/**
 * One entry of a seneca-web `map`: `true` (a GET route), or which methods it answers plus
 * `alias`, `suffix`, `name`, `middleware`, `secure`, `redirect` and, new in stoa, `status`.
 * `auth` (passport strategies) and `autoreply: false` (an action answering through
 * `response$`) have no stoa equivalent and are refused rather than ignored, so that a route
 * never loses its protection on the way over.
 */
const senecaRouteSpec = z.looseObject({
  GET: z.boolean().optional(),
  POST: z.boolean().optional(),
  PUT: z.boolean().optional(),
  PATCH: z.boolean().optional(),
  DELETE: z.boolean().optional(),
  HEAD: z.boolean().optional(),
  OPTIONS: z.boolean().optional(),
  alias: z.string().optional(),
  suffix: z.string().optional(),
  name: z.string().optional(),
  status: successStatus.optional(),
  middleware: middlewareList.optional(),
  /** Only for a request with `req.user` (set by earlier middleware); others are redirected to `fail`, or answered 401. */
  secure: z.union([z.boolean(), z.looseObject({ fail: location.optional() })]).optional(),
  /** Answer a successful action with a 302 to this path instead of its result. */
  redirect: location.optional(),
})

/**
 * A seneca-web route set: `pin` (with `:*` standing for each map key), `prefix`, `postfix` and
 * `map`. Paths are `prefix/key/postfix/suffix`, or `alias` when given, as in seneca-web.
 */
export const senecaRouteSet = z.looseObject({
  pin: z.string().min(1),
  prefix: z.string().optional(),
  postfix: z.string().optional(),
  /** Middleware every route of the set runs first, before a route's own. */
  middleware: middlewareList.optional(),
  map: z.record(z.string(), z.union([z.boolean(), senecaRouteSpec])),
})

/**
 * The compact form: `'METHOD /path': 'pattern'`, or `{ pattern, status }` to answer with
 * another success status.
 */
export const compactRoutes = z.record(
  z.string(),
  z.union([z.string(), z.strictObject({ pattern: z.string(), status: successStatus.optional() })]),
)

const origin = z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin such as https://app.example.com')

/**
 * A stream route: the event it streams (`vote.*`), or `{ event, map, open }` where `map` is an
 * action each event goes through per client, with the client's identity (its result is sent;
 * null or undefined skips the event: filter and shape there), and `open` an action run once
 * when a client connects (its permission guards the stream).
 */
const streamRoute = z.union([
  z.string().min(1),
  z.strictObject({ event: z.string().min(1), map: z.string().optional(), open: z.string().optional() }),
])

/** The limits of every stream route of one loading. */
const streamLimits = z.strictObject({
  /** An SSE comment or a WebSocket ping this often, ms, so proxies keep the connection and dead peers are found. */
  heartbeatMs: z.number().int().positive().default(STREAM_DEFAULTS.heartbeatMs),
  /** Latest events kept per route and instance, for a client resuming with `Last-Event-ID`. */
  bufferSize: z.number().int().min(0).default(STREAM_DEFAULTS.bufferSize),
  /** Bytes a client may have waiting unsent before it is dropped (a slow client): 256 KiB. */
  maxBufferedBytes: z.number().int().positive().default(STREAM_DEFAULTS.maxBufferedBytes),
  /** Stream connections this instance holds at most (all stream routes); more are answered 503. */
  maxConnections: z.number().int().positive().default(STREAM_DEFAULTS.maxConnections),
  /** Largest WebSocket frame a client may send, bytes; a bigger one closes the connection (1009). */
  maxFrameBytes: z.number().int().positive().default(STREAM_DEFAULTS.maxFrameBytes),
  /** Origins a WebSocket upgrade may come from; none listed: this host only (cross-site WebSocket hijacking). */
  allowedOrigins: z.array(origin).default([]),
})

/** Options of the web plugin: its routes and the limits every request is held to. */
export const webOptions = z.strictObject({
  /** One route map, or a list of them, in the seneca-web or the compact form. */
  routes: z.union([senecaRouteSet, compactRoutes, z.array(z.union([senecaRouteSet, compactRoutes]))]).default({}),
  /**
   * Stream routes, by path: `GET` on the path answers server-sent events, a WebSocket upgrade
   * on it opens a socket, both carrying the named event as it reaches this instance (every
   * instance hears it: see `{ each: 'instance' }`). `'/live/votes': 'vote.recorded'`.
   */
  streams: z.record(z.string(), streamRoute).default({}),
  /**
   * CORS for this loading's routes, answered in the one pipeline: preflights, and
   * `Access-Control-Allow-Origin` on answers to the allowed origins (never to others). A
   * cookie-borne state change from another origin also needs that origin in `cookie.allowedOrigins`.
   */
  cors: z
    .strictObject({
      /** Allowed origins, or `'*'` for any. */
      origins: z.array(z.union([origin, z.literal('*')])).min(1),
      /** Methods a preflight may ask for. */
      methods: z.array(z.string().toUpperCase()).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
      /** Request headers a preflight may ask for. */
      headers: z.array(z.string().toLowerCase()).default(['content-type', 'authorization', 'x-request-id']),
      /** Response headers the page may read. */
      exposeHeaders: z.array(z.string().toLowerCase()).default(['x-request-id', 'retry-after']),
      /** Whether cookies go with the request and the page may read the answer. */
      credentials: z.boolean().default(false),
      /** How long a browser may cache a preflight answer, seconds. */
      maxAgeSec: z.number().int().min(0).default(600),
    })
    .optional(),
  /** Limits of the stream routes. */
  stream: streamLimits.prefault({}),
  /** Prepended to every path of this plugin's routes, e.g. `/api`. */
  prefix: z.string().default(WEB_DEFAULTS.prefix),
  /** Request bodies over this size are refused with 413 before they are parsed: 1 MiB. */
  maxBodyBytes: z.number().int().positive().default(WEB_DEFAULTS.maxBodyBytes),
  /** Request headers (lowercase) passed to the action as `ctx.headers`; others stay at the edge. */
  headers: z.array(z.string().toLowerCase()).default([...WEB_DEFAULTS.headers]),
  /** Time limit of the action behind a route, ms; the action's or the instance's default otherwise. */
  timeoutMs: z.number().int().positive().optional(),
  /**
   * The message an action gets: `flat`, query < body < path parameters merged under the
   * pattern's pairs; or `seneca-web`, `{ args: { params, query, body, route, user } }` as
   * seneca-web's express adapter builds it, for actions written for seneca-web.
   */
  message: z.enum(['flat', 'seneca-web']).default(WEB_DEFAULTS.message),
  /**
   * Take the identity token from the login cookie as well, when a request has no Authorization
   * header. A state-changing request (not GET, HEAD, OPTIONS) authenticated by the cookie must
   * come from one of `allowedOrigins` (`https://app1.example.com`), or from this host when none
   * are listed; otherwise 403. Absent: no cookie is read.
   */
  cookie: z
    .strictObject({
      name: z.string().regex(COOKIE_NAME).default(TOKEN_COOKIE),
      allowedOrigins: z
        .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin such as https://app.example.com'))
        .default([]),
    })
    .optional(),
})

/** Options of the web plugin as `use(web, options)` takes them. */
export type WebOptions = z.input<typeof webOptions>

/** A route set in seneca-web's format. */
export type SenecaRouteSet = z.input<typeof senecaRouteSet>

/** Routes in the compact form. */
export type CompactRoutes = z.input<typeof compactRoutes>

/** Any route map the web plugin accepts. */
export type RouteMap = WebOptions['routes']
