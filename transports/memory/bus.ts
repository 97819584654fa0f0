import type { Envelope, Reply, TransportHost } from '../../actions/transport.js'
import {
  assertTaskName,
  describeMessage,
  errorReply,
  matchesSubscription,
  StoaError,
  taskService,
} from '../../actions/transport.js'

/** One instance of a service attached to the bus. */
interface Member {
  readonly host: TransportHost
}

/**
 * An in-process message bus shared by the stoa instances of one process: request/reply,
 * tasks to one instance of a service, and events to each subscribing service once. It is an
 * object you create and pass to each transport, never a global.
 *
 * @example
 * const bus = createMemoryBus()
 * const gateway = createStoa({ name: 'gateway' }).client(createMemoryTransport({ bus }), ['role:vote'])
 * const tally = createStoa({ name: 'tally' }).listen(createMemoryTransport({ bus }))
 */
export class MemoryBus {
  private readonly services = new Map<string, Member[]>()
  private readonly turn = new Map<string, number>()

  constructor(private readonly options: MemoryBusOptions = {}) {}

  /** @internal */
  join(member: Member): void {
    const list = this.services.get(member.host.service) ?? []
    list.push(member)
    this.services.set(member.host.service, list)
  }

  /** @internal */
  leave(member: Member): void {
    const list = this.services.get(member.host.service)
    if (list === undefined) return
    const i = list.indexOf(member)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.services.delete(member.host.service)
  }

  /** Names of the services with at least one instance on the bus. */
  serviceNames(): string[] {
    return [...this.services.keys()]
  }

  /**
   * Delivers an envelope. `act`: to one instance that answers the message, and waits for its
   * reply. `send`: to one instance of the task's service, answered once handed over (with
   * `tasks: 'handled'`, with the handler's reply). `emit`: to one instance of every subscribing
   * service, and to every instance with a matching `{ each: 'instance' }` subscription, answered
   * once handed over. An act no service answers gets `NOT_FOUND` naming the message's pairs for
   * the keys in `looked` (the client's pins' keys), never the rest of the message.
   */
  deliver(e: Envelope, looked: Iterable<string> = []): Promise<Reply> {
    if (e.kind === 'act') {
      const target = this.pick(
        [...this.services.values()].flatMap((list) => list.filter((m) => m.host.answers(e.msg))),
        'act',
      )
      if (target === undefined) {
        const shown = describeMessage(e.msg, looked)
        return Promise.resolve(notFound(`no service on the bus answers ${shown === '' ? 'this act' : `"${shown}"`}`))
      }
      return target.host.dispatch(clone(e))
    }
    if (e.kind === 'send') {
      try {
        assertTaskName(e.name)
      } catch (err) {
        return Promise.resolve(errorReply(err))
      }
      const service = taskService(e.name)
      const list = (this.services.get(service) ?? []).filter((m) => m.host.tasks().includes(e.name!))
      const target = this.pick(list, service)
      if (target === undefined)
        return Promise.resolve(notFound(`no instance of service "${service}" handles task "${e.name}"`))
      if (this.options.tasks === 'handled') return target.host.dispatch(clone(e))
      this.handOver(target, e)
      return Promise.resolve({ ok: true, out: undefined })
    }
    for (const [service, list] of this.services) {
      const subscribed = list.filter((m) => m.host.subscriptions().some((s) => matchesSubscription(s, e.name!)))
      const target = this.pick(subscribed, `${service}#events`)
      if (target !== undefined) this.handOver(target, e)
      for (const m of list)
        if (m.host.instanceSubscriptions().some((s) => matchesSubscription(s, e.name!)))
          this.handOver(m, { ...e, each: 'instance' })
    }
    return Promise.resolve({ ok: true, out: undefined })
  }

  /** Round robin over the candidates, so competing instances share the work. */
  private pick(list: Member[], key: string): Member | undefined {
    if (list.length === 0) return undefined
    const n = this.turn.get(key) ?? 0
    this.turn.set(key, n + 1)
    return list[n % list.length]
  }

  private handOver(target: Member, e: Envelope): void {
    const copy = clone(e)
    // Fire and forget, like a queue: the receiver's failures are its own to report.
    void target.host.dispatch(copy).then((reply) => {
      if (!reply.ok)
        target.host.log.error({ error: reply.error, name: e.name, trace: e.meta.trace }, `${e.kind} failed`)
    })
  }
}

/** How a {@link MemoryBus} answers the sender of a task. */
export interface MemoryBusOptions {
  /**
   * `handed-over` (the default): a send resolves once the task is given to an instance, as a
   * broker's confirm does, and the handler's failure is the receiver's to report. `handled`: a
   * send resolves with the handler's outcome (and rejects with its error), so a sender that
   * deletes its copy once the send resolved (an outbox relay) keeps it until the task's effect
   * is done: in one process, nothing else would redeliver a task lost with the process.
   */
  readonly tasks?: 'handed-over' | 'handled'
}

/**
 * Creates a bus for the instances of one process to talk over.
 *
 * @example
 * const bus = createMemoryBus({ tasks: 'handled' })
 */
export function createMemoryBus(options: MemoryBusOptions = {}): MemoryBus {
  return new MemoryBus(options)
}

/**
 * Copies the message as a wire would, so sender and receiver never share objects: what
 * arrives is exactly what JSON can carry.
 */
function clone(e: Envelope): Envelope {
  const copy: Envelope = {
    kind: e.kind,
    name: e.name,
    msg: JSON.parse(JSON.stringify(e.msg)) as Envelope['msg'],
    meta: { ...e.meta },
  }
  // An edge's request headers are for the service they reached, never forwarded further.
  delete copy.meta.headers
  if (e.each !== undefined) copy.each = e.each
  return copy
}

function notFound(message: string): Reply {
  return errorReply(new StoaError('NOT_FOUND', message))
}
