import type { IRouter, NextFunction, Request, RequestHandler, Response } from 'express'
import type { Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { ServedRoute } from './handle.js'
import { errorResponse } from './handle.js'
import type { Match } from './match.js'
import { createMatcher } from './match.js'
import { answerRoute, runChain, send } from './node.js'

/** How {@link mountWeb} mounts the routes. */
export interface MountWebOptions {
  /**
   * Express middleware that seneca-web route maps name in their `middleware` (seneca-web's
   * `options.middleware`). A name no entry gives fails the mount with `INVALID_OPTIONS`.
   */
  middleware?: Readonly<Record<string, RequestHandler>>
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
  appOrRouter: IRouter,
  options: MountWebOptions = {},
): Promise<ServedRoute[]> {
  const table = await webRoutes(stoa)
  appOrRouter.use(webMiddleware(stoa, table, chains(table, options.middleware ?? {})))
  return table
}

/** Each route's middleware as functions, names resolved now so that a missing one fails the mount. */
function chains(
  table: readonly ServedRoute[],
  named: Readonly<Record<string, RequestHandler>>,
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

/**
 * The route table of every web plugin instance loaded on `stoa`, in loading order.
 *
 * @example
 * for (const r of await webRoutes(stoa)) console.log(r.method, r.path, '->', r.pattern)
 */
export async function webRoutes(stoa: Stoa<any>): Promise<ServedRoute[]> {
  if (!stoa.has('role:web,cmd:routes')) return []
  const out = (await stoa.act('role:web,cmd:routes')) as { routes: ServedRoute[] }
  return out.routes
}

/** The express middleware answering the requests that match a route of `table`. */
function webMiddleware(
  stoa: Stoa<any>,
  table: readonly ServedRoute[],
  chains: ReadonlyMap<ServedRoute, RequestHandler[]>,
): RequestHandler {
  const find = createMatcher(table)
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = req.url
    const q = url.indexOf('?')
    let match: Match<ServedRoute> | undefined
    try {
      match = find(req.method, q < 0 ? url : url.slice(0, q))
    } catch (err) {
      send(res, errorResponse(err))
      return
    }
    if (match === undefined) {
      next()
      return
    }
    const search = q < 0 ? undefined : url.slice(q + 1)
    const chain = chains.get(match.route)
    if (chain === undefined) answerRoute(stoa, match, search, req, res)
    else guarded(stoa, match, search, chain, req, res, next)
  }
}

/**
 * A seneca-web route's middleware, in order, then its `secure` check, then the action. A
 * middleware that answers ends it there; `next(err)` goes to express's error handling, and
 * `next('route')` on to whatever follows in the app, as in express.
 */
function guarded(
  stoa: Stoa<any>,
  match: Match<ServedRoute>,
  search: string | undefined,
  chain: readonly RequestHandler[],
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  runChain(
    chain,
    req,
    res,
    () => answerRoute(stoa, match, search, req, res),
    (err) => next(err),
    () => next(),
  )
}
