import type { Pattern, TransportClient } from '../../actions/transport.js'
import { errorReply, matchesPattern, StoaError } from '../../actions/transport.js'
import type { RpcCaller } from './client.js'
import type { SenecaNames } from './seneca-wire.js'
import { senecaTopic } from './seneca-wire.js'

/** The client of the Seneca mode: an act goes out with the routing key of the pin it matches. */
export function createSenecaClient(rpc: RpcCaller, n: SenecaNames, pins: readonly Pattern[]): TransportClient {
  const routes = pins.map((pin) => ({ pin, key: senecaTopic(pin) }))
  return {
    deliver(e) {
      // Seneca has no events: none of its services subscribes, so an event is simply not wanted
      // there, as on a topic exchange with no binding. A task cannot be placed: NOT_FOUND lets
      // the kernel offer it to the service's other clients.
      if (e.kind === 'emit') return Promise.resolve({ ok: true, out: undefined })
      if (e.kind === 'send') {
        return Promise.resolve(
          errorReply(
            new StoaError('NOT_FOUND', 'the seneca-amqp-transport mode carries acts only, no tasks', { task: e.name }),
          ),
        )
      }
      const route = routes.find((r) => matchesPattern(r.pin, e.msg))
      if (route === undefined)
        return Promise.resolve(errorReply(new StoaError('NOT_FOUND', 'no pin of this client matches the message')))
      return rpc.call(n.exchange, route.key, e)
    },
  }
}
