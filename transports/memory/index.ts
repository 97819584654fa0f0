/**
 * The in-memory transport: services of one process calling each other, for tests and local runs.
 *
 * @module stoa/memory
 */
import type { Envelope, Reply, Transport, TransportClient, TransportHost } from '../../actions/transport.js'
import { ERRORS, errorReply, isErrorCode, pinKeys, StoaError, withDispatch } from '../../actions/transport.js'
import type { MemoryOptions } from './options.js'
import { resolveMemoryOptions } from './options.js'

export type { MemoryBusOptions } from './bus.js'
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
  // Paused (the host holds intake): tasks and events wait here, as in a broker's queue, and a
  // task that failed with a retryable code while the host was held waits to run again.
  let paused = false
  const backlog: { host: TransportHost; e: Envelope }[] = []
  const held = (host: TransportHost, e: Envelope): Promise<Reply> => {
    if (e.kind === 'act') return host.dispatch(e)
    if (paused) {
      backlog.push({ host, e })
      return Promise.resolve({ ok: true, out: undefined })
    }
    return host.dispatch(e).then((reply) => {
      if (reply.ok || !host.held || !isErrorCode(reply.error.code) || !ERRORS[reply.error.code].retryable) return reply
      backlog.push({ host, e })
      return { ok: true, out: undefined }
    })
  }
  return {
    name: 'memory',
    async listen(host) {
      const member = { host: withDispatch(host, (e) => held(host, e)) }
      joined.push(member)
      bus.join(member)
    },
    async client(_host, pins) {
      const looked = pinKeys(pins)
      const client: TransportClient = {
        deliver: (e) =>
          closed
            ? Promise.resolve(errorReply(new StoaError('UNAVAILABLE', 'memory transport is closed')))
            : bus.deliver(e, looked),
      }
      return client
    },
    async pause() {
      paused = true
    },
    async resume() {
      paused = false
      for (const { host, e } of backlog.splice(0)) {
        if (closed) break
        void held(host, e).then((reply) => {
          if (!reply.ok) host.log.error({ error: reply.error, name: e.name, trace: e.meta.trace }, `${e.kind} failed`)
        })
      }
    },
    async close() {
      closed = true
      if (backlog.length > 0) joined[0]?.host.log.warn({ waiting: backlog.length }, 'memory: closing with held work')
      for (const m of joined.splice(0)) bus.leave(m)
    },
  }
}
