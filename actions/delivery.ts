import type { CallMeta, Context } from './context.js'
import type { EnvelopeMeta, Reply, SubscriptionEach } from './envelope.js'
import { StoaError } from './errors.js'
import type { ClientSlot } from './lifecycle.js'
import type { Logger } from './logger.js'
import { assertEventName, assertTaskName } from './names.js'
import type { Message } from './pattern.js'
import { checkData, mergeMessages } from './pattern.js'
import type { Entry, Registry } from './registry.js'

/** Metadata of a task or event: everything fixed, as it will travel. */
export type FixedMeta = EnvelopeMeta & { deadline: number; timeoutMs: number }

/** What task and event delivery needs of the kernel. */
export interface DeliveryHost {
  readonly registry: Registry
  readonly clients: readonly ClientSlot[]
  readonly log: Logger
  /** Waits for a start under way; rejects `CLOSED` on a closed instance. */
  admit(): Promise<void> | undefined
  /** Runs a local entry: the kernel's call path. */
  run(entry: Entry, msg: Message, meta: CallMeta, parent: Context | undefined): Promise<unknown>
}

/**
 * Tasks and events: a task goes to exactly one handler (here, or through the first client that
 * can place it), an event to every subscribing service once.
 */
export class Delivery {
  private readonly host: DeliveryHost

  constructor(host: DeliveryHost) {
    this.host = host
  }

  /**
   * Sends a task. Resolves once it is accepted; rejects `NOT_FOUND` when nothing can take it,
   * `INVALID_NAME` for a bad name.
   */
  async task(name: string, data: Message | undefined, meta: FixedMeta, parent: Context | undefined): Promise<void> {
    assertTaskName(name)
    checkData(data)
    const wait = this.host.admit()
    if (wait !== undefined) await wait
    const route = this.host.registry.local.find(taskMessage(name, data))
    if (route !== undefined) {
      const run = this.host.run(route.data, mergeMessages(data), { ...meta, task: name }, parent)
      this.background(run, route.data.key, meta.trace)
      return
    }
    // Each client may reach different services (one HTTP client per service, say): a client
    // that cannot place the task answers NOT_FOUND, and the next one is tried.
    let reply: Reply | undefined
    const wire = onWire(meta)
    for (const c of this.host.clients) {
      if (c.client === undefined) continue
      reply = await c.remote.deliver({ kind: 'send', name, msg: data ?? {}, meta: wire }, parent)
      if (reply.ok || reply.error.code !== 'NOT_FOUND') break
    }
    if (reply === undefined) throw new StoaError('NOT_FOUND', `no handler for task "${name}"`, { task: name })
    if (!reply.ok) throw StoaError.fromJSON(reply.error)
  }

  /**
   * Emits an event. Resolves once it is accepted (by every client transport, or handed to
   * local subscribers).
   */
  async event(name: string, data: Message | undefined, meta: FixedMeta, parent: Context | undefined): Promise<void> {
    assertEventName(name)
    checkData(data)
    const wait = this.host.admit()
    if (wait !== undefined) await wait
    // Through client transports, every subscribing service hears the event once, this one
    // included if it listens there; with no client, the subscribers here are all there is.
    const clients = this.host.clients.filter((c) => c.client !== undefined)
    if (clients.length === 0) {
      this.background(this.subscribers(name, data ?? {}, meta), name, meta.trace)
      return
    }
    const wire = onWire(meta)
    const replies = await Promise.all(
      clients.map((c) => c.remote.deliver({ kind: 'emit', name, msg: data ?? {}, meta: wire }, parent)),
    )
    for (const reply of replies) if (!reply.ok) throw StoaError.fromJSON(reply.error)
  }

  /**
   * Runs the local subscribers of an event (those of one kind, or with no `each` all of them,
   * as when no transport carries events); rejects with the first failure. Each runs with the
   * event's id as `ctx.id`, the same on every delivery of it, so a subscriber can tell a
   * redelivery (the postgres plugin's inbox keys an `idempotent` one by it).
   */
  async subscribers(name: string, data: Message, meta: CallMeta, each?: SubscriptionEach): Promise<void> {
    // The subscriber gets the data as sent; the name it was routed by is `ctx.event`.
    const msg: Message = mergeMessages(data)
    const results = await Promise.allSettled(
      this.host.registry
        .subscribersOf(name, each)
        .map((entry) => this.host.run(entry, msg, { ...meta, event: name }, undefined)),
    )
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  private background(work: Promise<unknown>, what: string, trace: string): void {
    work.catch((err: unknown) => this.host.log.error({ err, pattern: what, trace }, 'background work failed'))
  }
}

/** The metadata that may leave the process: an identity verified here never does. */
function onWire(meta: FixedMeta & { identity?: unknown }): FixedMeta {
  if (meta.identity === undefined) return meta
  const { identity: _local, ...wire } = meta
  return wire
}

/**
 * The message a task is routed by: the data plus `task: <name>`. Only the lookup reads it;
 * the handler gets the data alone and the name as `ctx.task`.
 */
export function taskMessage(name: string, data: Message | undefined): Message {
  return mergeMessages(data, { task: name })
}
