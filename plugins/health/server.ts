import { createServer } from 'node:http'
import type { ReadinessSource } from '../../actions/transport.js'
import {
  ALIVE_PATH,
  errorHead,
  listenOn,
  probeResponse,
  READY_PATH,
  requestPath,
  StoaError,
  sendResponse,
  serverCloser,
} from '../../actions/transport.js'

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

/**
 * Serves `/healthz` and `/readyz` alone, on a port of their own, for an orchestrator's probes
 * (a Kubernetes `livenessProbe` and `readinessProbe`): apart from the traffic port, a probe is
 * never queued behind requests, never refused by a bulkhead, and needs no token. `/healthz`
 * answers 200 while the process answers at all; `/readyz` 200 when `stoa.readiness()` says
 * ready, otherwise 503; both with a JSON body. The answers are the kit's (`probeResponse` in
 * `stoa/transport`), the same as on the HTTP transport's listener.
 *
 * @example
 * const probes = await serveHealth(stoa, { port: 9000 })
 * // livenessProbe: GET :9000/healthz, readinessProbe: GET :9000/readyz
 */
export async function serveHealth(stoa: ReadinessSource, options: ServeHealthOptions = {}): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = requestPath(req)
    const probe = probeResponse(stoa, req.method, path)
    if (probe !== undefined) {
      void probe.then((answer) => sendResponse(res, answer))
      return
    }
    // The probe wire's error shape: the error itself, as the HTTP transport answers.
    const error = new StoaError('NOT_FOUND', `no probe at ${path}; ask ${ALIVE_PATH} or ${READY_PATH}`).toJSON()
    const { status, headers } = errorHead(error)
    const body = JSON.stringify(error)
    sendResponse(res, {
      status,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      body,
    })
  })
  const at = await listenOn(server, options.port ?? 0, options.host ?? '127.0.0.1')
  const closer = serverCloser(server)
  return { url: `http://${at}`, close: () => closer.close() }
}
