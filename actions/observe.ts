import type { EnvelopeKind } from './envelope.js'
import type { Logger } from './logger.js'

/**
 * What a transport reports as it works, beyond what any call returns, each method optional.
 * A transport calls them synchronously; `kind` is the envelope's (`act`, `send` for tasks,
 * `emit` for events). The kernel hands every listening and client transport one, through
 * `TransportHost.observer`, which tells every plugin that subscribed (see `definePlugin`'s
 * `setup`, part `observe`).
 *
 * @example
 * const counts = { received: 0 }
 * const observer: TransportObserver = { received: () => void counts.received++ }
 */
export interface TransportObserver {
  /** A delivery was taken from the transport (before it runs). */
  received?(kind: EnvelopeKind): void
  /** A failed task or event was sent to wait for its next try (`attempt` tries made). */
  retried?(kind: 'send' | 'emit', attempt: number): void
  /** A task or event went to the dead-letter queue, with the code of its last failure. */
  deadLettered?(kind: 'send' | 'emit', code: string): void
  /** The connection was opened again after it was lost. */
  reconnected?(): void
  /** The broker confirmed (or refused) a publish after `waitedMs`. */
  confirmed?(waitedMs: number, ok: boolean): void
}

/**
 * A plugin's subscription to transport observations: called once for each transport that
 * reports (`amqp`, `http`), the first time it does, with the transport's name; returns what
 * that transport's reports go to.
 */
export type Observe = (transport: string) => TransportObserver

type Method = keyof TransportObserver

/**
 * The plugins' subscriptions of one instance, and the one observer per transport name that
 * tells them all. A subscriber that throws is logged, never allowed to break the transport.
 */
export class Observers {
  private readonly subs: { readonly plugin: string; readonly observe: Observe }[] = []
  private readonly log: Logger

  constructor(log: Logger) {
    this.log = log
  }

  /** Adds a plugin's subscription: transports report to it from now on. */
  add(plugin: string, observe: Observe): void {
    this.subs.push({ plugin, observe })
  }

  /**
   * The observer a transport named `transport` reports to. Plugins loaded after it was made
   * are told too: each subscriber's own observer is asked for when the first report comes
   * after it subscribed.
   */
  for(transport: string): TransportObserver {
    const made: { plugin: string; observer: TransportObserver }[] = []
    const subs = this.subs
    const log = this.log
    const tell = (method: Method, args: unknown[]): void => {
      while (made.length < subs.length) {
        const sub = subs[made.length]!
        let observer: TransportObserver = {}
        try {
          observer = sub.observe(transport)
        } catch (err) {
          log.warn({ err, plugin: sub.plugin, transport }, 'transport observer could not be made')
        }
        made.push({ plugin: sub.plugin, observer })
      }
      for (const m of made) {
        const fn = m.observer[method] as ((...a: unknown[]) => void) | undefined
        if (fn === undefined) continue
        try {
          fn.apply(m.observer, args)
        } catch (err) {
          log.warn({ err, plugin: m.plugin, transport }, `transport observer failed on ${method}`)
        }
      }
    }
    return {
      received: (kind) => tell('received', [kind]),
      retried: (kind, attempt) => tell('retried', [kind, attempt]),
      deadLettered: (kind, code) => tell('deadLettered', [kind, code]),
      reconnected: () => tell('reconnected', []),
      confirmed: (waitedMs, ok) => tell('confirmed', [waitedMs, ok]),
    }
  }
}
