import type { ActionDef } from '../action.js'
import type { CallOptions, Context } from '../context.js'
import { StoaError } from '../errors.js'
import type { Message } from '../pattern.js'

/** The HTTP methods a route may answer; the list seneca-web accepts. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const

/** An HTTP method a route answers. */
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** Express middleware, or the name of one given when the routes are mounted. */
export type WebMiddleware = string | ((...args: never[]) => unknown)

/**
 * One route of the neutral table every route-map format becomes: what every HTTP front
 * serves, and what `role:web,cmd:routes` lists.
 */
export interface WebRoute {
  readonly method: HttpMethod
  /** An express-style path: `/votes/:id`. */
  readonly path: string
  /** The canonical pattern of the action the route runs. */
  readonly pattern: string
  /** The status of a successful answer: 200 unless the route asks for 201, 202... */
  readonly status: number
  /** seneca-web maps: express middleware run before the action, functions or names. */
  readonly middleware?: readonly WebMiddleware[]
  /** seneca-web maps: only requests with `req.user`; others go to `fail` (or get 401). */
  readonly secure?: { readonly fail?: string | undefined }
  /** seneca-web maps: answer a successful action with a 302 to this path. */
  readonly redirect?: string
}

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
  /** Cross-origin requests the route accepts from browsers (CORS); absent, none are answered for. */
  readonly cors?: CorsPolicy | undefined
  /** Set on a route that streams events (server-sent events, WebSocket) instead of answering once. */
  readonly stream?: StreamRoute | undefined
  /**
   * Set on a route that answers a request asking for `text/event-stream` with a stream of its
   * own making instead of its action's answer (GraphQL over server-sent events).
   */
  readonly eventStream?: EventStreamRoute | undefined
}

/**
 * A route's own event-stream answers: the pipeline runs every check of the route first (CORS,
 * `secure`, identity and the login cookie's same-origin rule, the body's size and JSON), then
 * hands `open` the request's message and call options.
 */
export interface EventStreamRoute {
  /** The stream for one request; a rejection (a `StoaError`) is answered as the route's errors are. */
  open(request: EventStreamRequest): Promise<EventRecords>
}

/** What {@link EventStreamRoute.open} gets: a request that passed the route's checks. */
export interface EventStreamRequest {
  /** Request headers with lowercase names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
  /** The route's message (query, body and path parameters merged). */
  readonly msg: Message
  /** The caller's call options: its token, trace, the route's headers. */
  readonly opts: CallOptions
}

/**
 * An answer that is a stream: `records` are server-sent event records as text, written as
 * they come until the iterator ends (or the client goes away, which returns it).
 */
export interface EventRecords {
  readonly kind: 'records'
  /** The answer's headers (`content-type: text/event-stream`...). */
  readonly headers: Record<string, string | string[]>
  readonly records: AsyncIterator<string>
  /** Bytes the client may have waiting unsent before it is dropped as too slow. */
  readonly maxBufferedBytes: number
}

/** Which cross-origin requests a route answers for (the web plugin's `cors` option). */
export interface CorsPolicy {
  /** Allowed origins (`https://app.example.com`), or `*` for any. */
  readonly origins: readonly string[]
  /** Methods a preflight may ask for. */
  readonly methods: readonly string[]
  /** Request headers (lowercase) a preflight may ask for. */
  readonly headers: readonly string[]
  /** Response headers the page may read besides the CORS-safelisted ones. */
  readonly exposeHeaders: readonly string[]
  /** Whether the browser may send cookies and read the answer (`Access-Control-Allow-Credentials`). */
  readonly credentials: boolean
  /** How long a preflight answer may be cached, seconds. */
  readonly maxAgeSec: number
}

/** One event as a stream route sends it: its per-instance id, its name and its data. */
export interface StreamEvent {
  /** Increasing within one instance's stream; what `Last-Event-ID` names to resume after. */
  readonly id: string
  readonly name: string
  readonly data: Message
}

/** A connected stream client, as the front that holds its connection writes to it. */
export interface StreamClient {
  /** Called for every event, in order; returns at once (a client that cannot keep up is dropped). */
  deliver(event: StreamEvent): void
}

/** Where a stream route's events come from: the web plugin's per-instance hub of one route. */
export interface StreamSource {
  /** Whether this instance holds as many stream connections as it takes: new ones get 503. */
  full(): boolean
  /**
   * Adds a client. With `lastEventId` still in the bounded buffer, the events after it are
   * delivered first; an id it no longer holds (or another instance's) resumes from now.
   * Returns the function that removes the client.
   */
  join(client: StreamClient, lastEventId: string | undefined): () => void
}

/** What makes a route a stream of events rather than one answer. */
export interface StreamRoute {
  /** The event name it streams (may hold `*` segments). */
  readonly event: string
  /** An action each event goes through per client, with the client's identity: its result is sent; null or undefined skips the event. */
  readonly map?: string | undefined
  /** An action run once when a client connects, with its identity: its permission guards the stream. */
  readonly open?: string | undefined
  /** Heartbeat interval, ms: an SSE comment, a WebSocket ping. */
  readonly heartbeatMs: number
  /** Bytes a client may have waiting unsent before it is dropped. */
  readonly maxBufferedBytes: number
  /** Largest WebSocket frame a client may send, bytes. */
  readonly maxFrameBytes: number
  /** Origins a WebSocket upgrade may come from; none listed: this host only. */
  readonly allowedOrigins: readonly string[]
  readonly source: StreamSource
}

/** What {@link webRoutes} needs of an instance. */
export interface RouteSource {
  has(pattern: string): boolean
  act(pattern: string): Promise<unknown>
}

/**
 * The route table of every web plugin instance loaded on `stoa`, in loading order (none
 * without a web plugin).
 *
 * @example
 * for (const r of await webRoutes(stoa)) console.log(r.method, r.path, '->', r.pattern)
 */
export async function webRoutes(stoa: RouteSource): Promise<ServedRoute[]> {
  if (!stoa.has('role:web,cmd:routes')) return []
  const out = (await stoa.act('role:web,cmd:routes')) as { routes: ServedRoute[] }
  return out.routes
}

/**
 * The `role:web,cmd:routes` action of a plugin that serves `routes`: it answers the routes
 * registered before it (a web plugin loaded earlier, under another tag) followed by its own. It
 * is public: the HTTP fronts read it with no identity, and the authz plugin needs every
 * action to say what it requires.
 *
 * @example
 * stoa.add('role:web,cmd:routes', routeTableAction([probeRoute]))
 */
export function routeTableAction(routes: readonly ServedRoute[]): ActionDef<Message, { routes: ServedRoute[] }> {
  return {
    public: true,
    handler: async (_msg: Message, ctx: Context) => {
      const earlier = await ctx.prior().then(
        (out: unknown) => (out as { routes?: ServedRoute[] }).routes ?? [],
        (err: unknown) => {
          if (err instanceof StoaError && err.code === 'NOT_FOUND') return []
          throw err
        },
      )
      return { routes: [...earlier, ...routes] }
    },
  }
}
