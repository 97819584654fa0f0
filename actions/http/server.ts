import type { IncomingMessage, Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Readiness } from '../health.js'
import type { WebResponse } from './answer.js'
import { errorHead, methodNotAllowed } from './answer.js'

/*
 * What every node:http server of stoa does the same way: close, and answer an orchestrator's
 * probes. The HTTP transport's listener, serveWeb, the probe server and the example gateways
 * use these rather than a copy of their own.
 */

/** How long answers in progress get to finish once a server closes, ms. */
export const CLOSE_GRACE_MS = 2000

/** Closing one server, in two steps, by stoa's one policy. */
export interface ServerCloser {
  /** Whether {@link ServerCloser.stopAccepting} has begun: answers from then on should close their connection. */
  readonly stopping: boolean
  /**
   * Stops listening at once (a new connection is refused) and closes idle kept-alive
   * connections; resolves when the last connection has gone.
   */
  stopAccepting(): Promise<void>
  /**
   * Stops accepting, then lets answers in progress finish for up to `graceMs` and closes every
   * connection still open (a stream that never ends, a client that never reads).
   */
  close(): Promise<void>
}

/**
 * The one close policy for a node:http or node:https server: stop listening and drop idle
 * connections at once, give answers in progress `graceMs` (default {@link CLOSE_GRACE_MS}),
 * then cut what is left.
 *
 * @example
 * const closer = serverCloser(server)
 * const front = { url, close: () => closer.close() }
 */
export function serverCloser(server: Server | HttpsServer, graceMs: number = CLOSE_GRACE_MS): ServerCloser {
  let stopped: Promise<void> | undefined
  let closed: Promise<void> | undefined
  const stopAccepting = (): Promise<void> => {
    // close() stops listening at once and resolves when the last connection has gone; kept-alive
    // connections that are idle now would otherwise hold it open until their timeout.
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    return stopped
  }
  return {
    get stopping() {
      return stopped !== undefined
    },
    stopAccepting,
    close: () =>
      (closed ??= (async () => {
        const done = stopAccepting()
        // A connection that finished its answer since is idle now: drop it as well.
        server.closeIdleConnections()
        const force = setTimeout(() => server.closeAllConnections(), graceMs)
        force.unref()
        await done
        clearTimeout(force)
      })()),
  }
}

/**
 * Closes a server by the one policy ({@link serverCloser}).
 *
 * @example
 * await closeServer(server)
 */
export function closeServer(server: Server | HttpsServer, graceMs: number = CLOSE_GRACE_MS): Promise<void> {
  return serverCloser(server, graceMs).close()
}

/** The probe paths: alive (the process answers) and ready (it can take work). */
export const ALIVE_PATH = '/healthz'
export const READY_PATH = '/readyz'

/** What a probe answer needs of an instance. */
export interface ReadinessSource {
  readiness(): Promise<Readiness>
}

/**
 * The answer to an orchestrator's probe, or undefined when `path` is not a probe path:
 * `/healthz` 200 while the process answers at all; `/readyz` 200 when the instance can take
 * work and 503 when it cannot (or cannot tell), with the verdict of each check; another method
 * than GET or HEAD 405 `METHOD_NOT_ALLOWED`. Never cached; the body is JSON, the error in the
 * probe wire's shape `{ code, message, details }`.
 *
 * @example
 * const probe = probeResponse(stoa, req.method, path)
 * if (probe !== undefined) void probe.then((answer) => sendResponse(res, answer))
 */
export function probeResponse(
  source: ReadinessSource,
  method: string | undefined,
  path: string,
): Promise<WebResponse> | undefined {
  if (path !== ALIVE_PATH && path !== READY_PATH) return undefined
  if (method !== 'GET' && method !== 'HEAD') {
    const error = methodNotAllowed(String(method), path, ['GET', 'HEAD']).toJSON()
    const { status, headers } = errorHead(error)
    return Promise.resolve(json(status, error, headers))
  }
  if (path === ALIVE_PATH) return Promise.resolve(json(200, { alive: true }))
  return source.readiness().then(
    (r) => json(r.ready ? 200 : 503, r),
    () => json(503, { ready: false, checks: [] }),
  )
}

function json(status: number, out: unknown, extra?: Record<string, string>): WebResponse {
  const body = JSON.stringify(out)
  return {
    status,
    headers: {
      ...extra,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    },
    body,
  }
}

/**
 * The path of a node request, without its query.
 *
 * @example
 * const scrape = requestPath(req) === '/metrics'
 */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}
