import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { Readiness } from '../../actions/index.js'
import { listenOn } from '../../actions/transport.js'

/** What {@link serveHealth} needs of an instance. */
export interface ReadinessSource {
  readiness(): Promise<Readiness>
}

/** Where {@link serveHealth} listens. */
export interface ServeHealthOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** Port; 0 (the default) picks a free one. */
  port?: number
}

/** A running probe server. */
export interface HealthServer {
  /** Its base URL, e.g. `http://127.0.0.1:34567`. */
  readonly url: string
  /** Stops listening and closes its connections. */
  close(): Promise<void>
}

/** The probe paths: alive (the process answers) and ready (it can take work). */
export const ALIVE_PATH = '/healthz'
export const READY_PATH = '/readyz'

/**
 * Serves `/healthz` and `/readyz` alone, on a port of their own, for an orchestrator's probes
 * (a Kubernetes `livenessProbe` and `readinessProbe`): apart from the traffic port, a probe is
 * never queued behind requests, never refused by a bulkhead, and needs no token. `/healthz`
 * answers 200 while the process answers at all; `/readyz` 200 when `stoa.readiness()` says
 * ready, otherwise 503; both with a JSON body.
 *
 * @example
 * const probes = await serveHealth(stoa, { port: 9000 })
 * // livenessProbe: GET :9000/healthz, readinessProbe: GET :9000/readyz
 */
export async function serveHealth(stoa: ReadinessSource, options: ServeHealthOptions = {}): Promise<HealthServer> {
  const server = createServer((req, res) => answerProbe(stoa, req, res))
  const at = await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1')
  return { url: `http://${at}`, close: () => closeServer(server) }
}

function answerProbe(stoa: ReadinessSource, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const send = (status: number, out: unknown): void => {
    if (res.destroyed) return
    const body = JSON.stringify(out)
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD')
    send(405, { code: 'METHOD_NOT_ALLOWED', message: `${String(req.method)} is not answered here; use GET` })
    return
  }
  if (path === ALIVE_PATH) {
    send(200, { alive: true })
    return
  }
  if (path === READY_PATH) {
    stoa.readiness().then(
      (r) => send(r.ready ? 200 : 503, r),
      () => send(503, { ready: false, checks: [] }),
    )
    return
  }
  send(404, { code: 'NOT_FOUND', message: `no probe at ${path}; ask ${ALIVE_PATH} or ${READY_PATH}` })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
