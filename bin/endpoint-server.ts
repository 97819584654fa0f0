import { createServer } from 'node:http'
import type { NodeHandler } from '../actions/index.js'
import { listenOn } from '../actions/transport.js'

/** Something `stoa serve` started beside the instance and stops before closing it. */
export interface Front {
  readonly url: string
  close(): Promise<void>
}

/**
 * `stoa serve --metrics host:port`: the plugins' HTTP endpoints (`GET /metrics`) alone, for a
 * worker that has no other HTTP listener. The request handling is {@link answerEndpoints}.
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
  return {
    url: `http://${address}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Answers `GET` (and `HEAD`) on the endpoints' paths, and 404 naming them on anything else. */
function answerEndpoints(endpoints: Record<string, NodeHandler>): NodeHandler {
  const paths = Object.keys(endpoints)
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const endpoint = endpoints[path]
    if (endpoint !== undefined && Object.hasOwn(endpoints, path) && (req.method === 'GET' || req.method === 'HEAD'))
      return endpoint(req, res)
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; GET ${paths.join(', GET ')}\n`)
  }
}
