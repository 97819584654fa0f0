import type { Envelope, Reply } from './envelope.js'
import { StoaError } from './errors.js'
import type { CheckStatus } from './health.js'
import type { Deliver, HookEntry } from './hooks.js'
import { composeOutbound } from './hooks.js'
import type { Logger } from './logger.js'
import type { Message, Pattern } from './pattern.js'
import { describeMessage, matchesPattern } from './pattern.js'
import type { CloseHook } from './plugin.js'
import type { Remote } from './registry.js'
import type { Transport, TransportClient, TransportHost } from './transport.js'
import { errorReply, pinKeys, withDispatch } from './transport-kit.js'

/** Where an instance is in its life. Acts made while `starting` wait for `ready()`. */
export type Phase = 'starting' | 'running' | 'closing' | 'closed'

/** A client transport once it is asked for: its routes exist at once, its client on start. */
export interface ClientSlot {
  readonly transport: Transport
  readonly pins: readonly Pattern[]
  /** What the routes pinned to this client call: the client inside the outbound hooks. */
  readonly remote: Remote
  /** The started client; undefined until `ready()` starts it. */
  client: TransportClient | undefined
}

/**
 * Starting and stopping one instance: plugin inits and transports start in order in `ready()`;
 * `close()` refuses new work, drains what is in flight, closes transports and runs close hooks
 * in reverse order. Also wires listeners (each with a host that enforces its pins) and clients.
 */
export class Lifecycle {
  phase: Phase = 'running'
  private starting: Promise<void> | undefined
  private startError: unknown
  private readonly toStart: (() => Promise<void>)[] = []
  private readonly transports: Transport[] = []
  private readonly closeHooks: CloseHook[] = []
  /** Why intake is paused, by the name of whoever paused it (see `Stoa.pauseIntake`). */
  private readonly holds = new Map<string, string>()
  /** Client transports in the order they were added: tasks try them in that order. */
  readonly clients: ClientSlot[] = []
  private readonly service: string
  private readonly log: Logger

  constructor(service: string, log: Logger) {
    this.service = service
    this.log = log
  }

  /** Whether close has begun. */
  get closing(): boolean {
    return this.phase === 'closing' || this.phase === 'closed'
  }

  /** Whether some hold pauses intake now. */
  get held(): boolean {
    return this.holds.size > 0
  }

  /** Pauses intake under `name`: the first hold tells every transport that can pause. */
  hold(name: string, reason: string): void {
    const first = this.holds.size === 0
    this.holds.set(name, reason)
    if (first) this.tellTransports('pause')
  }

  /** Lifts the hold `name`; the last one lifted tells every transport to resume. */
  release(name: string): void {
    if (!this.holds.delete(name) || this.holds.size > 0 || this.closing) return
    this.tellTransports('resume')
  }

  private tellTransports(what: 'pause' | 'resume'): void {
    for (const t of this.transports) {
      const step = t[what]
      if (typeof step !== 'function') continue
      step.call(t).catch((err: unknown) => this.log.error({ err, transport: t.name }, `transport failed to ${what}`))
    }
  }

  /** Queues work for `ready()` (a plugin's init, a transport's start). */
  queue(start: () => Promise<void>): void {
    this.toStart.push(start)
    if (this.phase === 'running' && this.starting === undefined) this.phase = 'starting'
  }

  /** Keeps a hook to run at close, after in-flight work has finished. */
  onClose(hook: CloseHook): void {
    this.closeHooks.push(hook)
  }

  /**
   * Runs everything queued, in order. Safe to call again after queueing more; a failed start
   * stays failed, so later calls never run on a half-started service.
   */
  ready(): Promise<void> {
    if (this.closing) return Promise.reject(closedError(this.service))
    if (this.startError !== undefined) return Promise.reject(this.startError)
    if (this.starting === undefined) {
      if (this.toStart.length === 0) {
        this.phase = 'running'
        return Promise.resolve()
      }
      this.starting = (async () => {
        try {
          while (this.toStart.length > 0) await this.toStart.shift()!()
        } catch (err) {
          this.startError = err
          throw err
        } finally {
          this.starting = undefined
        }
        this.phase = 'running'
      })()
    }
    return this.starting
  }

  /** Listens on a transport with a host of its own, which answers only for the pins. */
  listen(transport: Transport, pins: readonly Pattern[], host: TransportHost): void {
    if (typeof transport.listen !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `transport "${transport.name}" cannot listen`)
    }
    this.addTransport(transport)
    const pinned = pinnedHost(host, pins)
    this.queue(() => transport.listen!(pinned, pins))
  }

  /**
   * Adds a client transport. Its routes exist at once (the caller registers them with the
   * returned slot's `remote`), so a pinned act made before the client is up waits in `ready()`
   * rather than failing with NOT_FOUND.
   */
  client(
    transport: Transport,
    pins: readonly Pattern[],
    host: TransportHost,
    hooks: () => readonly HookEntry[],
  ): ClientSlot {
    if (typeof transport.client !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `transport "${transport.name}" has no client side`)
    }
    this.addTransport(transport)
    const slot: ClientSlot = {
      transport,
      pins,
      remote: { transport: transport.name, deliver: notStarted(transport.name) },
      client: undefined,
    }
    this.clients.push(slot)
    this.queue(async () => {
      slot.client = await transport.client!(host, pins)
      this.wrap(slot, hooks())
    })
    return slot
  }

  /** Rewraps every started client in the outbound hooks, after a hook was added. */
  rewrap(hooks: readonly HookEntry[]): void {
    for (const slot of this.clients) if (slot.client !== undefined) this.wrap(slot, hooks)
  }

  private wrap(slot: ClientSlot, hooks: readonly HookEntry[]): void {
    const client = slot.client!
    const base: Deliver = (e) => client.deliver(e)
    slot.remote.deliver = composeOutbound(base, hooks, { transport: slot.transport.name })
  }

  /** The instance's own line of a readiness verdict, then one per transport that reports health. */
  health(): CheckStatus[] {
    const out: CheckStatus[] = []
    const phase = this.phase
    if (phase === 'running') out.push({ name: 'lifecycle', ready: true })
    else out.push({ name: 'lifecycle', ready: false, reason: phase === 'starting' ? 'starting' : 'shutting down' })
    for (const t of this.transports) {
      if (typeof t.health !== 'function') continue
      const h = t.health()
      out.push(
        h.ready
          ? { name: `transport:${t.name}`, ready: true }
          : { name: `transport:${t.name}`, ready: false, reason: h.reason },
      )
    }
    for (const [name, reason] of this.holds) out.push({ name: `intake:${name}`, ready: false, reason })
    return out
  }

  private addTransport(t: Transport): void {
    if (!this.transports.includes(t)) this.transports.push(t)
  }

  /**
   * Closes: waits for a start under way, refuses new work (`closing`), has every transport stop
   * taking work, lets `drain` wait for work in flight, closes the transports, then runs close
   * hooks, both in reverse order.
   */
  async close(drain: () => Promise<void>): Promise<void> {
    if (this.phase === 'closed') return
    if (this.phase === 'starting' && this.starting !== undefined) await this.starting.catch(() => undefined)
    this.phase = 'closing'
    // Listeners stop listening and consumers are cancelled before the drain, so that the drain
    // waits for a known set of work rather than for whatever keeps arriving.
    await Promise.all(
      this.transports.map((t) =>
        typeof t.stopAccepting === 'function'
          ? t
              .stopAccepting()
              .catch((err: unknown) => this.log.error({ err, transport: t.name }, 'transport failed to stop accepting'))
          : undefined,
      ),
    )
    await drain()
    for (const t of [...this.transports].reverse()) {
      await t.close().catch((err: unknown) => this.log.error({ err, transport: t.name }, 'transport failed to close'))
    }
    for (const hook of [...this.closeHooks].reverse()) {
      await Promise.resolve()
        .then(hook)
        .catch((err: unknown) => this.log.error({ err }, 'close hook failed'))
    }
    this.phase = 'closed'
  }
}

/**
 * The host a listener sees: with pins, an act matching none of them is `NOT_FOUND` before it
 * reaches the service, and `answers` says no to it, so no transport checks pins itself.
 */
function pinnedHost(host: TransportHost, pins: readonly Pattern[]): TransportHost {
  if (pins.length === 0) return host
  const pinned = (msg: Readonly<Message>): boolean => pins.some((pin) => matchesPattern(pin, msg))
  const keys = pinKeys(pins)
  return withDispatch(
    host,
    (e: Envelope): Promise<Reply> => {
      if (e.kind === 'act' && e.msg !== null && typeof e.msg === 'object' && !pinned(e.msg)) {
        const looked = describeMessage(e.msg, keys)
        return Promise.resolve(
          errorReply(
            new StoaError('NOT_FOUND', `no action this listener serves matches "${looked}"`, { pattern: looked }),
          ),
        )
      }
      return host.dispatch(e)
    },
    (msg) => pinned(msg) && host.answers(msg),
  )
}

function notStarted(transport: string): Deliver {
  return () => Promise.resolve(errorReply(new StoaError('UNAVAILABLE', `transport "${transport}" is not started`)))
}

/** The error of a call to an instance that is closed. */
export function closedError(name: string): StoaError {
  return new StoaError('CLOSED', `service "${name}" is closed`)
}
