import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as parseQuery } from 'node:querystring'
import type { Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { ServedRoute, WebResponse } from './handle.js'
import {
  checkContentType,
  errorResponse,
  handleWebRequest,
  parseJsonBody,
  tooLarge,
  unmatchedResponse,
} from './handle.js'
import type { Match } from './match.js'

/*
 * What both HTTP paths do with node's own request and response: express's `Request` and
 * `Response` extend them, so `mountWeb` (inside express) and `serveWeb` (on node:http alone)
 * answer a matched route with the same code, byte for byte.
 */

/**
 * Answers a matched route once its middleware (if any) has run: the `secure` check, then the
 * body, the action and the answer (or the route's redirect).
 */
export function answerRoute(
  stoa: Stoa<any>,
  match: Match<ServedRoute>,
  search: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const secure = match.route.secure
  if (secure !== undefined && (req as { user?: unknown }).user == null) {
    if (secure.fail !== undefined) redirect(res, secure.fail)
    else send(res, errorResponse(new StoaError('UNAUTHENTICATED', 'this route needs a signed-in user')))
    return
  }
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
  req: IncomingMessage,
  res: ServerResponse,
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

/** Answers a request no route and nothing else took: see {@link unmatchedResponse}. */
export function unmatched(
  find: (method: string, path: string) => Match<ServedRoute> | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): void {
  send(res, unmatchedResponse(find, req.method ?? 'GET', path))
}

/** A 302 to `location`, as express's res.redirect answers (seneca-web's redirect and secure.fail). */
export function redirect(res: ServerResponse, location: string): void {
  send(res, { status: 302, headers: { location, 'content-length': '0' }, body: undefined })
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Reads a JSON body with the size limit enforced while it arrives: a declared length over the
 * limit is refused before reading, and a chunked body is cut off as soon as it passes it.
 */
function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Record<string, unknown> | undefined> {
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
        resolve(
          parseJsonBody(
            req.headers['content-type'],
            chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
            maxBodyBytes,
          ),
        )
      } catch (err) {
        reject(err)
      }
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', () => reject(new StoaError('INVALID_MESSAGE', 'the request body could not be read')))
  })
}

/** Writes an answer, unless something (a middleware) already answered. */
export function send(res: ServerResponse, answer: WebResponse): void {
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

/** Middleware as express and node's servers call it. */
export type ChainStep<Req, Res> = (req: Req, res: Res, next: (err?: unknown) => void) => unknown

/**
 * Runs middleware in order, as express does: each calls `next()` to go on, and one that answers
 * ends the chain. `next(err)`, a throw, or (as in express 5) a rejected promise calls `failed`.
 * `next('route')` calls `skip` when given; without it the chain goes on, as `next()` would.
 * `done` runs after the last one.
 */
export function runChain<Req, Res extends ServerResponse>(
  chain: readonly ChainStep<Req, Res>[],
  req: Req,
  res: Res,
  done: () => void,
  failed: (err: unknown) => void,
  skip?: () => void,
): void {
  let i = 0
  const step = (err?: unknown): void => {
    if (err === 'route' || err === 'router') {
      if (skip !== undefined) {
        skip()
        return
      }
    } else if (err !== undefined && err !== null) {
      failed(err)
      return
    }
    if (res.headersSent || res.writableEnded) return
    const mw = chain[i++]
    if (mw === undefined) {
      done()
      return
    }
    try {
      const r: unknown = mw(req, res, step)
      if (r instanceof Promise) r.catch((e: unknown) => step(e ?? new Error('middleware rejected')))
    } catch (e) {
      step(e)
    }
  }
  step()
}
