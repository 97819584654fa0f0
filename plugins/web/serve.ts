import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { ErrorCode, Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { HttpHeaders, HttpRequest, RequestBody, ServedRoute, WebOutcome } from '../../actions/transport.js'
import {
  createWebPipeline,
  errorResponse,
  listenOn,
  sendResponse,
  serverCloser,
  webRoutes,
} from '../../actions/transport.js'
import { runChain } from './chain.js'
import type { ExpressApp, MountWebOptions } from './express.js'
import { createExpressApp, mountWith, nodeBody } from './express.js'
import type { OpenStreams } from './stream.js'
import { isRecords, isStream, serveEventStream, serveRecords } from './stream.js'
import { loadWs, upgradeHandler } from './ws.js'

/**
 * Middleware in node's own shape, `(req, res, next)` over `IncomingMessage` and
 * `ServerResponse`, as CORS, helmet and request loggers are written: {@link serveWeb} runs it
 * before every request, whichever path then answers.
 */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => unknown

/** Where and how {@link serveWeb} listens. */
export interface ServeWebOptions extends MountWebOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** Port; 0 (the default) picks a free one. */
  port?: number
  /**
   * An express app of yours, for what stoa's routes do not answer (static files, your own
   * routes). If it already holds middleware or routes when `serveWeb` is called, they come
   * before stoa's routes, so every request goes through it, as with {@link mountWeb}.
   */
  app?: ExpressApp
  /**
   * Middleware run first, in order, for every request on both paths (stoa's routes answered
   * on node:http, and whatever goes to express): the place for CORS, helmet or a logger that
   * must see stoa's routes without taking them off the fast path. One that answers ends the
   * request; `next(err)` is answered as an error.
   */
  before?: readonly NodeMiddleware[]
}

/** A running web server made by {@link serveWeb}. */
export interface WebServer {
  /** Its base URL, e.g. `http://127.0.0.1:34567`. */
  readonly url: string
  /** Stops listening and closes its connections; the stoa instance stays open. */
  close(): Promise<void>
}

/**
 * Serves the routes of every `web` plugin loaded on `stoa` on a node:http server it makes, and
 * resolves once listening. A request for a route is answered on node:http directly: the same
 * route table, body limits, message, status mapping and answers as {@link mountWeb}, without
 * express's dispatch in the way. Everything else goes to express:
 *
 * - a route whose seneca-web map names `middleware` (express middleware, which may use
 *   express's `req`/`res` API) is answered inside express, after its middleware;
 * - with `options.app`, any path no route has goes to that app; and if the app already holds
 *   middleware or routes, every request does (they come first, as they would with mountWeb);
 * - `options.before` runs ahead of both paths.
 *
 * So no middleware configured to run before a route is ever skipped. What nothing answers
 * gets a JSON 404, or, for a path some route has, 405 with `Allow` (and 204 to `OPTIONS`).
 *
 * @example
 * const server = await serveWeb(stoa, { port: 3000 })
 * console.log(server.url) // http://127.0.0.1:3000
 * await server.close()
 */
export async function serveWeb(stoa: Stoa<any>, options: ServeWebOptions = {}): Promise<WebServer> {
  const table = await webRoutes(stoa)
  const given = options.app
  // Anything already in the user's app runs before stoa's routes on express: then express
  // answers them all. A request only reaches the app's router when it exists, so reading it
  // here (which makes it) changes nothing.
  const clear = given === undefined || given.router.stack.length === 0
  let app: ExpressApp | undefined
  // Every event stream open on this server, to end when it closes (a WebSocket is no longer
  // one of the server's connections once upgraded).
  const held: OpenStreams = new Set()
  if (given !== undefined || table.some(hasMiddleware)) {
    // express is loaded only when something needs it, so a plain gateway never loads it.
    app = given ?? (await createExpressApp())
    // Mounted in every case: it resolves the middleware names (a missing one fails here) and
    // answers the routes that have middleware.
    await mountWith(stoa, app, options.middleware === undefined ? {} : { middleware: options.middleware }, held)
  }
  // On node:http, the routes with middleware (and, with an app, what no route takes) go to
  // express, where mountWeb's pipeline and the app answer them.
  const pipeline = createWebPipeline<NodeRequest>(stoa, table, {
    unmatched: app === undefined ? 'answer' : 'pass',
    middleware: 'pass',
    streams: true,
  })
  const fast = clear && table.length > 0

  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (err instanceof StoaError) {
      sendResponse(res, errorResponse(err))
      return
    }
    // Nothing handled it: log it, and answer as JSON like every other answer here, never with
    // its message, keeping its status where a stoa code has it (http-errors, body-parser).
    stoa.log.error({ method: req.method, url: req.url, err: String(err) }, 'a middleware failed')
    sendResponse(res, errorResponse(fromStatus(err)))
  }

  const toExpress = (r: NodeRequest): void => {
    const { req, res } = r
    if (app === undefined) {
      sendResponse(res, pipeline.unmatched(r.method, r.path))
      return
    }
    // express calls back only when nothing in it answered, or with an error nothing handled.
    app(req as never, res as never, (err?: unknown) => {
      if (err === undefined || err === null || err === 'route' || err === 'router')
        sendResponse(res, pipeline.unmatched(r.method, r.path))
      else failed(req, res, err)
    })
  }
  const write = (r: NodeRequest, out: WebOutcome): void => {
    if (out === 'pass') toExpress(r)
    else if (out === 'done') return
    else if (isStream(out)) serveEventStream(r.res, out, stoa, held)
    else if (isRecords(out)) serveRecords(r.res, out, stoa, held)
    else sendResponse(r.res, out)
  }

  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    const r = new NodeRequest(req, res)
    if (!fast) {
      toExpress(r)
      return
    }
    const out = pipeline.handle(r)
    if (out instanceof Promise) out.then((o) => write(r, o))
    else write(r, out)
  }

  // express caught whatever a handler threw; on node:http an exception in the request event
  // would end the process, so one that escapes (none is known to) fails only its request.
  const guarded = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      dispatch(req, res)
    } catch (err) {
      failed(req, res, err)
    }
  }
  const before = options.before ?? []
  const server = createServer(
    before.length === 0
      ? guarded
      : (req, res) =>
          runChain(
            before,
            req,
            res,
            () => dispatch(req, res),
            (err) => failed(req, res, err),
          ),
  )
  const { upgrades } = stoa.httpParts()
  if (table.some((r) => r.stream !== undefined) || Object.keys(upgrades).length > 0)
    server.on('upgrade', upgradeHandler(stoa, pipeline as never, await loadWs(), held, upgrades))
  const at = await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1')
  const closer = serverCloser(server)
  return {
    url: `http://${at}`,
    close: () => {
      for (const end of [...held]) end()
      return closer.close()
    },
  }
}

/** A node:http request as the web pipeline reads it. */
class NodeRequest implements HttpRequest {
  readonly method: string
  readonly path: string
  readonly query: string | undefined
  readonly headers: HttpHeaders

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    this.method = req.method ?? 'GET'
    this.path = q < 0 ? url : url.slice(0, q)
    this.query = q < 0 ? undefined : url.slice(q + 1)
    this.headers = req.headers
  }

  body(maxBodyBytes: number): RequestBody {
    return nodeBody(this.req, maxBodyBytes)
  }

  user(): unknown {
    // Set by `before` middleware that signs a user in.
    return (this.req as { user?: unknown }).user
  }
}

/** Codes for the statuses middleware errors commonly carry (http-errors, body-parser). */
const CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'INVALID_MESSAGE',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'UNAVAILABLE',
  504: 'TIMEOUT',
}

/** The error for a failure that is not a StoaError: the code of its status, or ACTION_FAILED. */
function fromStatus(err: unknown): StoaError {
  const e = err as { status?: unknown; statusCode?: unknown } | null
  const status = e?.status ?? e?.statusCode
  const code = typeof status === 'number' ? CODE_OF_STATUS[status] : undefined
  return code === undefined
    ? new StoaError('ACTION_FAILED', 'the request failed')
    : new StoaError(code, `the request failed with ${status as number}`)
}

function hasMiddleware(route: ServedRoute): boolean {
  return route.middleware !== undefined && route.middleware.length > 0
}
