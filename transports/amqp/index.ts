/**
 * The RabbitMQ (AMQP 0-9-1) transport: a service's acts, tasks and events carried by a broker.
 *
 * @module stoa/amqp
 */
import { randomUUID } from 'node:crypto'
import type { Pattern, Transport, TransportClient, TransportHost, TransportObserver } from '../../actions/transport.js'
import { backoffDelays, StoaError, settleWithin } from '../../actions/transport.js'
import { createClient, RpcCaller, Sender } from './client.js'
import { Link, Publisher } from './connection.js'
import { Listener } from './listen.js'
import type { AmqpOptions } from './options.js'
import { resolveAmqpOptions } from './options.js'
import { createSenecaClient } from './seneca-client.js'
import { SenecaListener } from './seneca-listen.js'
import { senecaCodec, senecaNames } from './seneca-wire.js'
import { names } from './topology.js'

export type {
  DeadLetter,
  DeadLetterAudit,
  DeadLetterDetail,
  DeadLetterFilter,
  DeadLetterOptions,
  DeadLetters,
} from './dead-letters.js'
export { openDeadLetters } from './dead-letters.js'
export { DLQ_PERMISSION, dlqAdmin } from './dlq-admin.js'
export type { AmqpObserver, AmqpOptions } from './options.js'

/** Set-up order on every connection: declarations, then publishing, then consumers. */
const RANK = { sender: 0, publisher: 1, rpc: 2, listener: 3 } as const

/**
 * The RabbitMQ transport (through amqplib). Listening, a service consumes its RPC queue (acts),
 * its durable task queue and its event queue; as a client, it sends acts to the `target`
 * service's RPC queue and waits on direct reply-to, publishes tasks to their service's queue
 * and events to the topic exchange. Tasks and events are persistent and confirmed, acknowledged
 * only after the action succeeded, retried with exponential backoff, then dead-lettered; the
 * connection comes back by itself after a loss. One transport holds one connection, shared by
 * its listening and client sides. With `seneca: true` it speaks seneca-amqp-transport's format
 * instead (acts only), to call and serve Seneca services.
 *
 * @example
 * const tally = createStoa({ name: 'tally' })
 *   .add('task:tally.vote.record', async (vote) => { await votes.insert(vote) })
 *   .listen(createAmqpTransport({ url: 'amqp://127.0.0.1:5672' }))
 * const gateway = createStoa({ name: 'gateway' })
 *   .client(createAmqpTransport({ target: 'tally' }), ['role:tally'])
 * await gateway.send('tally.vote.record', { voter: 'v1', choice: 'a' })
 */
export function createAmqpTransport(options: AmqpOptions = {}): Transport {
  const opts = resolveAmqpOptions(options)
  const n = names(opts.prefix)
  const sn = senecaNames(opts.prefix)
  const policy = { attempts: opts.attempts, delays: backoffDelays(opts.attempts, opts.backoffMs, opts.maxBackoffMs) }
  let link: Link | undefined
  let publisher: Publisher | undefined
  let sender: Sender | undefined
  let rpc: RpcCaller | undefined
  const listeners: (Listener | SenecaListener)[] = []
  let usesPublisher = false
  let observer: TransportObserver | undefined

  function connection(host: TransportHost): { link: Link; publisher: Publisher } {
    // What the transport sees goes to the plugins observing the instance (host.observer) and
    // to an observer given in the options. The first host to start the connection is the one
    // its reconnections and confirms are reported to.
    observer ??= tellBoth(host.observer, opts.observer)
    link ??= new Link({
      urls: opts.url,
      connectionName: opts.connectionName ?? `${opts.prefix} ${host.service}`,
      reconnectMinMs: opts.reconnectMinMs,
      reconnectMaxMs: opts.reconnectMaxMs,
      log: host.log,
      observer,
    })
    publisher ??= new Publisher(link, opts.bufferSize, host.log, host.clock, observer)
    return { link, publisher }
  }

  async function start(l: Link, p: Publisher): Promise<void> {
    if (!usesPublisher) {
      usesPublisher = true
      await l.add(p, RANK.publisher)
    }
    await l.start()
  }

  return {
    name: 'amqp',

    async listen(host: TransportHost, pins: readonly Pattern[]): Promise<void> {
      const { link: l, publisher: p } = connection(host)
      const listener = opts.seneca
        ? new SenecaListener(l, host, pins, opts, sn)
        : new Listener(l, p, host, { ...opts, observer: tellBoth(host.observer, opts.observer) }, n, policy)
      listeners.push(listener)
      await start(l, p)
      await l.add(listener, RANK.listener)
    },

    async client(host: TransportHost, pins: readonly Pattern[]): Promise<TransportClient> {
      const { link: l, publisher: p } = connection(host)
      if (opts.seneca) {
        const caller = new RpcCaller(l, opts, host.log, host.clock, senecaCodec(`stoa/${host.service}/${randomUUID()}`))
        await start(l, p)
        await l.add(caller, RANK.rpc)
        return createSenecaClient(caller, sn, pins)
      }
      if (pins.length > 0 && opts.target === undefined) {
        throw new StoaError(
          'INVALID_OPTIONS',
          'amqp transport: option "target" must name the service that answers the pinned acts',
          {
            transport: 'amqp',
            fields: ['target'],
          },
        )
      }
      if (sender === undefined) {
        sender = new Sender(l, p, opts, n, host.clock)
        await l.add(sender, RANK.sender)
      }
      if (pins.length > 0 && rpc === undefined) {
        rpc = new RpcCaller(l, opts, host.log, host.clock)
        await l.add(rpc, RANK.rpc)
      }
      await start(l, p)
      return createClient(rpc, sender, opts.target, n.rpc)
    },

    health() {
      // Before the first start there is no connection to judge; the instance says `starting`.
      return link === undefined ? { ready: true as const } : link.health()
    },

    async pause(): Promise<void> {
      await Promise.all(listeners.map((l) => (l instanceof Listener ? l.pauseIntake() : undefined)))
    },

    async resume(): Promise<void> {
      await Promise.all(listeners.map((l) => (l instanceof Listener ? l.resumeIntake() : undefined)))
    },

    async stopAccepting(): Promise<void> {
      await Promise.all(listeners.map((l) => l.stopAccepting()))
    },

    async close(): Promise<void> {
      for (const l of listeners.splice(0)) await l.close()
      if (publisher !== undefined) {
        // Let confirms of publishes already made arrive before the connection goes.
        await settleWithin(publisher.idle(), opts.graceMs)
      }
      await link?.close()
    },
  }
}

/** One observer telling the instance's and the options' (when given) each report. */
function tellBoth(host: TransportObserver, own: TransportObserver | undefined): TransportObserver {
  if (own === undefined) return host
  return {
    received(kind) {
      host.received?.(kind)
      own.received?.(kind)
    },
    retried(kind, attempt) {
      host.retried?.(kind, attempt)
      own.retried?.(kind, attempt)
    },
    deadLettered(kind, code) {
      host.deadLettered?.(kind, code)
      own.deadLettered?.(kind, code)
    },
    reconnected() {
      host.reconnected?.()
      own.reconnected?.()
    },
    confirmed(waitedMs, ok) {
      host.confirmed?.(waitedMs, ok)
      own.confirmed?.(waitedMs, ok)
    },
  }
}
