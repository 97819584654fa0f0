/**
 * The NATS JetStream transport: a service's acts, tasks and events carried by NATS.
 *
 * @module stoa/nats
 */
import type { Pattern, Transport, TransportClient, TransportHost } from '../../actions/transport.js'
import { backoffDelays, StoaError } from '../../actions/transport.js'
import { createClient } from './client.js'
import { Link } from './connection.js'
import { Listener } from './listen.js'
import type { NatsOptions } from './options.js'
import { resolveNatsOptions } from './options.js'
import { names } from './topology.js'

export type {
  NatsDeadLetter,
  NatsDeadLetterAudit,
  NatsDeadLetterDetail,
  NatsDeadLetterFilter,
  NatsDeadLetterOptions,
  NatsDeadLetters,
} from './dead-letters.js'
export { openNatsDeadLetters } from './dead-letters.js'
export type { NatsOptions } from './options.js'

/**
 * The NATS transport, with JetStream for what must not be lost (through nats.js). Listening, a
 * service answers requests on its subject in a queue group (acts), and takes its tasks from its
 * work-queue stream and its events from the event stream through durable consumers shared by
 * its instances; as a client, it sends acts to the `target` service as requests with the
 * deadline as timeout, and publishes tasks and events to JetStream, resolving once they are
 * stored. Tasks and events are acknowledged only after the action succeeded, retried with
 * exponential backoff, then dead-lettered; the client reconnects by itself. One transport holds
 * one connection, shared by its listening and client sides.
 *
 * @example
 * const tally = createStoa({ name: 'tally' })
 *   .add('task:tally.vote.record', async (vote) => { await votes.insert(vote) })
 *   .listen(createNatsTransport({ url: 'nats://127.0.0.1:4222' }))
 * const gateway = createStoa({ name: 'gateway' })
 *   .client(createNatsTransport({ target: 'tally' }), ['role:tally'])
 * await gateway.send('tally.vote.record', { voter: 'v1', choice: 'a' })
 */
export function createNatsTransport(options: NatsOptions = {}): Transport {
  const opts = resolveNatsOptions(options)
  const n = names(opts.prefix)
  const policy = { attempts: opts.attempts, delays: backoffDelays(opts.attempts, opts.backoffMs, opts.maxBackoffMs) }
  let link: Link | undefined
  const listeners: Listener[] = []

  function connection(host: TransportHost): Link {
    link ??= new Link({
      url: opts.url,
      connectionName: opts.connectionName ?? `${opts.prefix} ${host.service}`,
      reconnectWaitMs: opts.reconnectWaitMs,
      log: host.log,
      // What the connection sees goes to the plugins observing the first host that opened it.
      observer: host.observer,
    })
    return link
  }

  return {
    name: 'nats',

    async listen(host: TransportHost, _pins: readonly Pattern[]): Promise<void> {
      const listener = new Listener(connection(host), host, opts, n, policy)
      listeners.push(listener)
      await listener.start()
    },

    async client(host: TransportHost, pins: readonly Pattern[]): Promise<TransportClient> {
      if (pins.length > 0 && opts.target === undefined) {
        throw new StoaError(
          'INVALID_OPTIONS',
          'nats transport: option "target" must name the service that answers the pinned acts',
          { transport: 'nats', fields: ['target'] },
        )
      }
      const l = connection(host)
      await l.connect()
      return createClient(l, opts, n, opts.target, host)
    },

    health() {
      if (link === undefined) return { ready: true as const }
      const h = link.health()
      if (!h.ready) return h
      for (const l of listeners) {
        const lh = l.health()
        if (!lh.ready) return lh
      }
      return h
    },

    async pause(): Promise<void> {
      await Promise.all(listeners.map((l) => l.pauseIntake()))
    },

    async resume(): Promise<void> {
      await Promise.all(listeners.map((l) => l.resumeIntake()))
    },

    async stopAccepting(): Promise<void> {
      await Promise.all(listeners.map((l) => l.stopAccepting()))
    },

    async close(): Promise<void> {
      await Promise.all(listeners.splice(0).map((l) => l.close()))
      // Drain: publishes, acks and replies already written reach the server before the socket goes.
      await link?.close()
    },
  }
}
