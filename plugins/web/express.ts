import type { Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parse as parseQuery } from 'node:querystring'
import type { Express, IRouter, NextFunction, Request, RequestHandler, Response } from 'express'
import type { Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { ServedRoute, WebResponse } from './handle.js'
import { checkContentType, errorResponse, handleWebRequest, parseJsonBody, tooLarge } from './handle.js'
import type { Match } from './match.js'
import { createMatcher } from './match.js'

/** How {@link mountWeb} mounts the routes. */
export interface MountWebOptions {
  /**
   * Express middleware that seneca-web route maps name in their `middleware` (seneca-web's
   * `options.middleware`). A name no entry gives fails the mount with `INVALID_OPTIONS`.
   */
  middleware?: Readonly<Record<string, RequestHandler>>
}

/** Where and how {@link serveWeb} listens. */
export interface ServeWebOptions extends MountWebOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** Port; 0 (the default) picks a free one. */
  port?: number
  /** Mount onto this express app instead of a new one. */
  app?: Express
}

/** A running web server made by {@link serveWeb}. */
export interface WebServer {
  /** Its base URL, e.g. `http://127.0.0.1:34567`. */
  readonly url: string
  /** Stops listening and closes its connections; the stoa instance stays open. */
  close(): Promise<void>
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
export async function mountWeb(stoa: Stoa<any>, appOrRouter: IRouter, options: MountWebOptions = {}): Promise<ServedRoute[]> {
  const table = await webRoutes(stoa)
  appOrRouter.use(webMiddleware(stoa, table, chains(table, options.middleware ?? {})))
  return table
}

/** Each route's middleware as functions, names resolved now so that a missing one fails the mount. */
function chains(table: readonly ServedRoute[], named: Readonly<Record<string, RequestHandler>>): Map<ServedRoute, RequestHandler[]> {
  const out = new Map<ServedRoute, RequestHandler[]>()
  for (const route of table) {
    if (route.middleware === undefined || route.middleware.length === 0) continue
    out.set(
      route,
      route.middleware.map((m) => {
        if (typeof m === 'function') return m as unknown as RequestHandler
        const fn = Object.hasOwn(named, m) ? named[m] : undefined
        if (typeof fn !== 'function') {
          throw new StoaError('INVALID_OPTIONS', `route "${route.method} ${route.path}" names middleware "${m}", which mountWeb was not given`, { route: `${route.method} ${route.path}`, middleware: m })
        }
        return fn
      }),
    )
  }
  return out
}

/**
 * Serves the routes of every `web` plugin loaded on `stoa` over HTTP: on `app` if given, else
 * on a new express app that also answers unknown paths with a JSON 404. Resolves once listening.
 *
 * @example
 * const server = await serveWeb(stoa, { port: 3000 })
 * console.log(server.url) // http://127.0.0.1:3000
 * await server.close()
 */
export async function serveWeb(stoa: Stoa<any>, options: ServeWebOptions = {}): Promise<WebServer> {
  // express is loaded only when a server is made, so importing the plugin stays cheap.
  const created = options.app === undefined
  const app = options.app ?? (await import('express')).default()
  if (created) app.disable('x-powered-by')
  await mountWeb(stoa, app, options.middleware === undefined ? {} : { middleware: options.middleware })
  if (created) {
    app.use((req: Request, res: Response) => {
      send(res, errorResponse(new StoaError('NOT_FOUND', `no route for ${req.method} ${req.path}`)))
    })
  }
  const server = createServer(app)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return { url: `http://${host}:${address.port}`, close: () => closeServer(server) }
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
function webMiddleware(stoa: Stoa<any>, table: readonly ServedRoute[], chains: ReadonlyMap<ServedRoute, RequestHandler[]>): RequestHandler {
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
    if (chain === undefined && match.route.secure === undefined) answer(stoa, match, search, req, res)
    else guarded(stoa, match, search, chain ?? [], req, res, next)
  }
}

/**
 * A seneca-web route's middleware, in order, then its `secure` check, then the action. A
 * middleware that answers ends it there; `next(err)` goes to express's error handling, and
 * `next('route')` on to whatever follows in the app, as in express.
 */
function guarded(stoa: Stoa<any>, match: Match<ServedRoute>, search: string | undefined, chain: readonly RequestHandler[], req: Request, res: Response, next: NextFunction): void {
  let i = 0
  const step = (err?: unknown): void => {
    if (err === 'route' || err === 'router') {
      next()
      return
    }
    if (err !== undefined && err !== null) {
      next(err)
      return
    }
    if (res.headersSent || res.writableEnded) return
    const mw = chain[i++]
    if (mw === undefined) {
      const secure = match.route.secure
      if (secure !== undefined && (req as { user?: unknown }).user == null) {
        if (secure.fail !== undefined) redirect(res, secure.fail)
        else send(res, errorResponse(new StoaError('UNAUTHENTICATED', 'this route needs a signed-in user')))
        return
      }
      answer(stoa, match, search, req, res)
      return
    }
    try {
      const r: unknown = mw(req, res, step)
      // express 5 passes a rejected promise from middleware on as next(err): so do we.
      if (r instanceof Promise) r.catch((e: unknown) => step(e ?? new Error('middleware rejected')))
    } catch (e) {
      step(e)
    }
  }
  step()
}

/** Answers a matched route: reads the body if needed and runs the action. */
function answer(stoa: Stoa<any>, match: Match<ServedRoute>, search: string | undefined, req: Request, res: Response): void {
  const { route, params } = match
  // node's querystring gives a null-prototype object: no key can reach a prototype.
  const query = search === undefined ? {} : parseQuery(search)
  const given = (req as { body?: unknown }).body
  // A body parser that ran before us consumed the body: take its result (a JSON object only).
  // One that skipped the request (another media type) left the stream unread, and maybe an
  // empty object: then the body is read and checked here.
  if (given !== undefined && (req.readableEnded || !hasBody(req))) {
    if (given === null || typeof given !== 'object' || Array.isArray(given) || Buffer.isBuffer(given)) {
      send(res, errorResponse(new StoaError('INVALID_MESSAGE', 'the request body must be a JSON object')))
      return
    }
    run(stoa, route, req, res, params, query, given as Record<string, unknown>)
    return
  }
  if (!hasBody(req)) {
    run(stoa, route, req, res, params, query, undefined)
    return
  }
  readBody(req, route.maxBodyBytes).then(
    (body) => run(stoa, route, req, res, params, query, body),
    (err: unknown) => {
      // Whatever is left of an over-long body is not read: close the connection after
      // answering rather than let the next request on it start in the middle of this one.
      if (err instanceof StoaError && err.code === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close')
      send(res, errorResponse(err))
    },
  )
}

function run(
  stoa: Stoa<any>,
  route: ServedRoute,
  req: Request,
  res: Response,
  params: Record<string, string>,
  query: Record<string, unknown>,
  body: Record<string, unknown> | undefined,
): void {
  const request = { params, query, body, headers: req.headers, user: (req as { user?: unknown }).user }
  // handleWebRequest never rejects: every failure is already an answer.
  void handleWebRequest(stoa, route, request).then((answer) => {
    if (route.redirect !== undefined && answer.status < 300) redirect(res, route.redirect)
    else send(res, answer)
  })
}

/** A 302 to `location`, as express's res.redirect answers (seneca-web's redirect and secure.fail). */
function redirect(res: Response, location: string): void {
  send(res, { status: 302, headers: { location, 'content-length': '0' }, body: undefined })
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Reads a JSON body with the size limit enforced while it arrives: a declared length over the
 * limit is refused before reading, and a chunked body is cut off as soon as it passes it.
 */
function readBody(req: Request, maxBodyBytes: number): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve, reject) => {
    try {
      checkContentType(req.headers['content-type'])
      const declared = Number(req.headers['content-length'])
      if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes)
    } catch (err) {
      reject(err)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        req.off('data', onData)
        req.off('end', onEnd)
        req.pause()
        reject(tooLarge(maxBodyBytes))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      try {
        resolve(parseJsonBody(req.headers['content-type'], chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), maxBodyBytes))
      } catch (err) {
        reject(err)
      }
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', () => reject(new StoaError('INVALID_MESSAGE', 'the request body could not be read')))
  })
}

function send(res: Response, answer: WebResponse): void {
  if (res.headersSent) return
  try {
    res.writeHead(answer.status, answer.headers)
    res.end(answer.body)
  } catch {
    // Headers were checked when the answer was built; should node still refuse one, drop
    // this connection rather than the process.
    res.destroy()
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
  })
}
