import type { IncomingMessage, ServerResponse } from 'node:http'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { HttpHeaders, HttpRequest, RequestBody, ServedRoute, WebOutcome } from '../../actions/transport.js'
import { createWebPipeline, hasBody, loadPeer, readBody, sendResponse, webRoutes } from '../../actions/transport.js'
import { runChain } from './chain.js'
import type { OpenStreams } from './stream.js'
import { isRecords, isStream, serveEventStream, serveRecords } from './stream.js'

/**
 * Express middleware, as stoa calls it: express's own `RequestHandler` fits. Typed by its
 * shape rather than by express's types, so a project that does not use express needs no
 * `@types/express` to type-check stoa's declarations.
 */
export type ExpressMiddleware = {
  // A method's parameters compare both ways, so a handler typed over express's own `Request`
  // and `Response` (which extend node's) fits.
  handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): unknown
}['handle']

/** What {@link mountWeb} needs of an express 5 app or router: express's `Router` and app fit. */
export interface ExpressRouter {
  /** Adds middleware; {@link mountWeb} adds one. */
  use(handler: ExpressMiddleware): unknown
}

/** What {@link serveWeb} needs of an express 5 app: express's `Express` fits. */
export interface ExpressApp extends ExpressRouter {
  /** Handles a request; `next` is called when nothing in the app answered it. */
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): unknown
  /** The app's router, whose stack tells whether the app holds anything yet. */
  readonly router: { readonly stack: readonly unknown[] }
}

/** How {@link mountWeb} mounts the routes. */
export interface MountWebOptions {
  /**
   * Express middleware that seneca-web route maps name in their `middleware` (seneca-web's
   * `options.middleware`). A name no entry gives fails the mount with `INVALID_OPTIONS`.
   */
  middleware?: Readonly<Record<string, ExpressMiddleware>>
}

/**
 * Mounts the routes of every `web` plugin loaded on `stoa` onto an express 5 app or router
 * you own, as one middleware: a request whose method and path match a route is answered;
 * any other goes on to what follows. Middleware you add before it (auth, CORS, a body parser)
 * runs first; a body parsed by it is used, otherwise the body is read here. Resolves with the
 * routes mounted, once `stoa` is ready.
 *
 * One middleware with its own matcher, rather than one express route per stoa route, because
 * express's per-route dispatch and query getter cost more than the action itself (see
 * bench/http); paths are therefore plain: literal segments and `:name` parameters. A
 * seneca-web route's own `middleware`, `secure` and `redirect` run inside it, in seneca-web's
 * order; `options.middleware` gives the middleware its maps name.
 *
 * @example
 * const app = express()
 * const stoa = createStoa({ name: 'gateway' }).use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
 * await mountWeb(stoa, app)
 * app.listen(3000)
 */
export async function mountWeb(
  stoa: Stoa<any>,
  appOrRouter: ExpressRouter,
  options: MountWebOptions = {},
): Promise<ServedRoute[]> {
  return mountWith(stoa, appOrRouter, options, new Set())
}

/**
 * {@link mountWeb}, with the set its open event streams join (so a server of stoa's can end them).
 * @internal
 */
export async function mountWith(
  stoa: Stoa<any>,
  appOrRouter: ExpressRouter,
  options: MountWebOptions,
  held: OpenStreams,
): Promise<ServedRoute[]> {
  const table = await webRoutes(stoa)
  appOrRouter.use(webMiddleware(stoa, table, chains(table, options.middleware ?? {}), held))
  return table
}

/**
 * A new express app for {@link serveWeb}, express loaded now, when a server first needs it.
 * @internal
 */
export async function createExpressApp(): Promise<ExpressApp> {
  const { default: express } = await loadPeer<{ default: typeof import('express') }>('express', 'stoa/web')
  const app = express()
  app.disable('x-powered-by')
  return app
}

/** Each route's middleware as functions, names resolved now so that a missing one fails the mount. */
function chains(
  table: readonly ServedRoute[],
  named: Readonly<Record<string, ExpressMiddleware>>,
): Map<ServedRoute, RequestHandler[]> {
  const out = new Map<ServedRoute, RequestHandler[]>()
  for (const route of table) {
    if (route.middleware === undefined || route.middleware.length === 0) continue
    out.set(
      route,
      route.middleware.map((m) => {
        if (typeof m === 'function') return m as unknown as RequestHandler
        const fn = Object.hasOwn(named, m) ? named[m] : undefined
        if (typeof fn !== 'function') {
          throw new StoaError(
            'INVALID_OPTIONS',
            `route "${route.method} ${route.path}" names middleware "${m}", which the middleware option does not give`,
            {
              route: `${route.method} ${route.path}`,
              middleware: m,
            },
          )
        }
        return fn
      }),
    )
  }
  return out
}

/** An express request as the web pipeline reads it. */
class ExpressRequest implements HttpRequest {
  readonly method: string
  readonly path: string
  readonly query: string | undefined
  readonly headers: HttpHeaders

  constructor(
    readonly req: Request,
    readonly res: Response,
    readonly next: NextFunction,
  ) {
    const url = req.url
    const q = url.indexOf('?')
    this.method = req.method
    this.path = q < 0 ? url : url.slice(0, q)
    this.query = q < 0 ? undefined : url.slice(q + 1)
    this.headers = req.headers
  }

  body(maxBodyBytes: number): RequestBody {
    return nodeBody(this.req, maxBodyBytes)
  }

  user(): unknown {
    return (this.req as { user?: unknown }).user
  }
}

/**
 * The body of a request on node, as the pipeline takes it. A body parser that ran before
 * stoa consumed the body: its result is taken (the pipeline checks it is a JSON object). One
 * that skipped the request (another media type) left the stream unread, and maybe an empty
 * object: then the body is read and checked here.
 */
export function nodeBody(req: IncomingMessage, maxBodyBytes: number): RequestBody {
  const given = (req as { body?: unknown }).body
  const present = hasBody(req.headers)
  if (given !== undefined && (req.readableEnded || !present)) return { parsed: given }
  return present ? readBody(req, maxBodyBytes) : undefined
}

/** The express middleware answering the requests that match a route of `table`. */
function webMiddleware(
  stoa: Stoa<any>,
  table: readonly ServedRoute[],
  chains: ReadonlyMap<ServedRoute, RequestHandler[]>,
  held: OpenStreams,
): RequestHandler {
  // A seneca-web route's middleware, in order, before its `secure` check and action. A
  // middleware that answers ends it there; `next(err)` goes to express's error handling, and
  // `next('route')` on to whatever follows in the app, as in express.
  const pipeline = createWebPipeline<ExpressRequest>(stoa, table, {
    unmatched: 'pass',
    streams: true,
    middleware: (route, r) =>
      new Promise((resolve) =>
        runChain(
          chains.get(route)!,
          r.req,
          r.res,
          () => resolve('next'),
          (err) => {
            r.next(err)
            resolve('done')
          },
          () => resolve('pass'),
        ),
      ),
  })
  const write = (r: ExpressRequest, out: WebOutcome): void => {
    if (out === 'pass') r.next()
    else if (out === 'done') return
    else if (isStream(out)) serveEventStream(r.res, out, stoa, held)
    else if (isRecords(out)) serveRecords(r.res, out, stoa, held)
    else sendResponse(r.res, out)
  }
  return (req: Request, res: Response, next: NextFunction): void => {
    const r = new ExpressRequest(req, res, next)
    const out = pipeline.handle(r)
    if (out instanceof Promise) out.then((o) => write(r, o))
    else write(r, out)
  }
}
