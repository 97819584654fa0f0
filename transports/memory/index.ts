import type { Transport, TransportClient, TransportHost } from '../../actions/transport.js'
import { errorReply, StoaError } from '../../actions/transport.js'
import type { MemoryOptions } from './options.js'
import { resolveMemoryOptions } from './options.js'

export { createMemoryBus, MemoryBus } from './bus.js'

export type { MemoryOptions } from './options.js'

/**
 * The in-process transport: instances in one process talk over a shared {@link MemoryBus}
 * with the same semantics as a broker (send to one instance, emit to each service once).
 *
 * @example
 * const bus = createMemoryBus()
 * const tally = createStoa({ name: 'tally' }).listen(createMemoryTransport({ bus }))
 * const gateway = createStoa({ name: 'gateway' }).client(createMemoryTransport({ bus }), ['role:tally'])
 */
export function createMemoryTransport(options: MemoryOptions): Transport {
  const { bus } = resolveMemoryOptions(options)
  const joined: { host: TransportHost }[] = []
  let closed = false
  return {
    name: 'memory',
    async listen(host) {
      const member = { host }
      joined.push(member)
      bus.join(member)
    },
    async client(_host, pins) {
      const looked = pins.flatMap((pin) => Object.keys(pin))
      const client: TransportClient = {
        deliver: (e) =>
          closed
            ? Promise.resolve(errorReply(new StoaError('UNAVAILABLE', 'memory transport is closed')))
            : bus.deliver(e, looked),
      }
      return client
    },
    async close() {
      closed = true
      for (const m of joined.splice(0)) bus.leave(m)
    },
  }
}
