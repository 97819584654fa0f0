import { createServer } from 'node:http'
import type { NodeHandler } from '../actions/index.js'
import {
  errorResponse,
  listenOn,
  methodNotAllowed,
  requestPath,
  StoaError,
  sendResponse,
  serverCloser,
} from '../actions/transport.js'

/** Something `stoa serve` started beside the instance and stops before closing it. */
export interface Front {
  readonly url: string
  close(): Promise<void>
}

/**
 * `stoa serve --metrics host:port`: the plugins' HTTP endpoints (`GET /metrics`) alone, for a
 * worker that has no other HTTP listener. It answers and closes as every stoa server does, through
 * the HTTP kit of `stoa/transport`.
 *
 * @example
 * const server = await endpointServer({ host: '127.0.0.1', port: 0 }, stoa.httpParts().endpoints)
 */
export async function endpointServer(
  at: { host: string; port: number },
  endpoints: Record<string, NodeHandler>,
): Promise<Front> {
  const server = createServer(answerEndpoints(endpoints))
  const address = await listenOn(server, at.port, at.host)
  const closer = serverCloser(server)
  return { url: `http://${address}`, close: () => closer.close() }
}

/**
 * Answers `GET` (and `HEAD`) on the endpoints' paths; another method there is 405 with `Allow`,
 * any other path 404 naming the endpoints, both in the error table's JSON shape.
 */
function answerEndpoints(endpoints: Record<string, NodeHandler>): NodeHandler {
  const paths = Object.keys(endpoints)
  return (req, res) => {
    const path = requestPath(req)
    const method = req.method ?? 'GET'
    if (!Object.hasOwn(endpoints, path)) {
      const listed = paths.map((p) => `GET ${p}`).join(', ')
      return sendResponse(res, errorResponse(new StoaError('NOT_FOUND', `no route for ${method} ${path}; ${listed}`)))
    }
    if (method !== 'GET' && method !== 'HEAD')
      return sendResponse(res, errorResponse(methodNotAllowed(method, path, ['GET', 'HEAD'])))
    endpoints[path]!(req, res)
  }
}
