/**
 * The HTTP transport: a listener on `node:http`, or `node:https` with the `tls` option (`POST
 * /act`, JSON in, JSON out), and a client on kept-alive connections, carrying trace, time left
 * and identity in headers (see wire.ts).
 * Wire-compatible with Seneca's own HTTP transport in both directions (see seneca-compat.ts).
 *
 * @module stoa/http
 */
import type { Transport, TransportClient, TransportHost } from '../../actions/transport.js'
import { StoaError } from '../../actions/transport.js'
import type { HttpClient } from './client.js'
import { createClient } from './client.js'
import type { HttpListener } from './listen.js'
import { startListener } from './listen.js'
import type { HttpOptions } from './options.js'
import { resolveHttpOptions } from './options.js'

export type { HttpOptions } from './options.js'

/** The HTTP transport: a {@link Transport} that also tells where it listens. */
export interface HttpTransport extends Transport {
  /** The listening base URL (`http://127.0.0.1:34567`, `https:` with `tls`) once `listen` has run; undefined before. */
  address(): string | undefined
}

/**
 * Creates an HTTP transport. As a listener it serves the instance's actions, tasks and events
 * on `host:port` (`port: 0` picks a free port: read it with `address()`); as a client it sends
 * to the listener at `url`. Acts wait for their reply. A task (`send`) goes to the one instance
 * `url` names and an event (`emit`) to the one service it names, and both are answered once
 * that instance has handled them: HTTP has no broker, so reaching several services takes one
 * client transport per service, and at-least-once delivery takes the AMQP transport. With
 * `tls: { key, cert }` the listener serves HTTPS; with `ca` the client trusts a private CA.
 *
 * @example
 * const server = createHttpTransport({ port: 3000 })
 * createStoa({ name: 'math' }).use(math).listen(server)
 * const client = createStoa({ name: 'gateway' }).client(createHttpTransport({ url: 'http://127.0.0.1:3000' }), ['role:math'])
 * await client.act('role:math,cmd:sum', { left: 1, right: 2 })
 */
export function createHttpTransport(options?: HttpOptions): HttpTransport {
  const settings = resolveHttpOptions(options)
  let listener: HttpListener | undefined
  let starting = false
  const clients: HttpClient[] = []
  return {
    name: 'http',
    address: () => listener?.url,
    async listen(host: TransportHost) {
      if (starting)
        throw new StoaError(
          'INVALID_PLUGIN',
          'this http transport is already listening; create one per listening instance',
        )
      starting = true
      listener = await startListener(host, settings)
    },
    async client(): Promise<TransportClient> {
      if (settings.url === undefined) {
        throw new StoaError('INVALID_OPTIONS', 'http transport: option "url" is required to call through it', {
          transport: 'http',
          fields: ['url'],
        })
      }
      const client = await createClient(settings.url, settings)
      clients.push(client)
      return client
    },
    async stopAccepting() {
      listener?.stopAccepting()
    },
    async close() {
      for (const c of clients.splice(0)) c.close()
      await listener?.close()
    },
  }
}
