import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { Clock, Envelope, Logger, Reply, TransportClient } from '../../actions/transport.js'
import {
  assertEventName,
  assertTaskName,
  errorReply,
  StoaError,
  Sweeper,
  settleWithin,
  taskService,
  toStoaError,
} from '../../actions/transport.js'
import type { Link, LinkUser, Publisher } from './connection.js'
import { openChannel, unavailable } from './connection.js'
import type { ResolvedAmqpOptions } from './options.js'
import type { Names } from './topology.js'
import { declareEvents, declareTasks } from './topology.js'
import type { Outgoing } from './wire.js'
import { decodeReply, encodeRequest } from './wire.js'

/** RabbitMQ's pseudo-queue for direct reply-to: replies come straight back on this channel. */
const REPLY_TO = 'amq.rabbitmq.reply-to'

/** How long past its deadline a forgotten request is kept before it is dropped from the table. */
const REQUEST_SLACK_MS = 1000

/** How requests are written and replies read: stoa's wire format, or Seneca's. */
export interface RequestCodec {
  /**
   * Encodes a request at `now` (the instance's clock: the time left is counted from it); throws
   * a StoaError (`PAYLOAD_TOO_LARGE`...) when it cannot be sent.
   */
  encode(e: Envelope, maxBodyBytes: number, now: number): Outgoing
  /** Decodes a reply; anything malformed becomes an error reply. */
  decode(m: ConsumeMessage): Reply
}

/** stoa's own wire format (wire.ts). */
export const stoaCodec: RequestCodec = {
  encode: (e, max, now) => encodeRequest(e, max, now),
  decode: (m) => decodeReply(m.content),
}

interface Waiting {
  readonly until: number
  readonly resolve: (reply: Reply) => void
}

/**
 * Request/reply over RabbitMQ's direct reply-to: requests go to the target's RPC queue with a
 * correlation id and come back on this channel's reply consumer, with no reply queue to
 * declare or clean up. Requests are `mandatory`, so one sent when no instance of the target
 * has declared its queue returns at once as `UNAVAILABLE` instead of waiting for the deadline.
 */
export class RpcCaller implements LinkUser {
  private ch: Channel | undefined
  private blocked = false
  private readonly held: (() => void)[] = []
  private readonly waiting = new Map<string, Waiting>()
  private seq = 0
  /** Drops requests whose caller has stopped waiting (the kernel already answered TIMEOUT). */
  private readonly sweeper: Sweeper

  /** @param clock the instance's: deadlines are times of it, and the sweep runs on it. */
  constructor(
    private readonly link: Link,
    private readonly options: ResolvedAmqpOptions,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly codec: RequestCodec = stoaCodec,
  ) {
    this.sweeper = new Sweeper(
      500,
      (now) => {
        for (const [id, w] of this.waiting) {
          if (w.until <= now) {
            this.waiting.delete(id)
            w.resolve(errorReply(new StoaError('TIMEOUT', 'no reply before the deadline')))
          }
        }
        return this.waiting.size > 0
      },
      clock,
    )
  }

  async up(model: ChannelModel): Promise<void> {
    const ch = await openChannel(model.createChannel(), this.link, this.log, 'request', (closed) => {
      if (this.ch !== closed) return false
      this.down(unavailable('the request channel closed'))
      return true
    })
    ch.on('return', (m: ConsumeMessage) => {
      const id = m.properties.correlationId as string | undefined
      const w = id === undefined ? undefined : this.waiting.get(id)
      if (w === undefined) return
      this.waiting.delete(id!)
      w.resolve(errorReply(new StoaError('UNAVAILABLE', `no instance listens on "${m.fields.routingKey}"`)))
    })
    ch.on('drain', () => {
      this.blocked = false
      while (!this.blocked && this.held.length > 0) this.held.shift()!()
    })
    // Direct reply-to needs the consumer on the publishing channel, in no-ack mode.
    await ch.consume(REPLY_TO, (m) => m !== null && this.answer(m), { noAck: true })
    this.ch = ch
    this.blocked = false
    while (!this.blocked && this.held.length > 0) this.held.shift()!()
  }

  down(error: StoaError): void {
    this.ch = undefined
    // A lost channel loses its replies: callers learn at once rather than at their deadline.
    const reply = errorReply(error)
    for (const w of this.waiting.values()) w.resolve(reply)
    this.waiting.clear()
    for (const fn of this.held.splice(0)) fn()
  }

  /**
   * Sends a request to `exchange` with `routingKey` (a queue name on the default exchange) and
   * resolves with the reply. Never rejects.
   */
  call(exchange: string, routingKey: string, e: Envelope): Promise<Reply> {
    if (this.ch === undefined) return Promise.resolve(errorReply(unavailable('the broker connection is down')))
    const now = this.clock.now()
    let out: Outgoing
    try {
      out = this.codec.encode(e, this.options.maxBodyBytes, now)
    } catch (err) {
      return Promise.resolve(errorReply(toStoaError(err)))
    }
    const id = (++this.seq).toString(36)
    out.props.correlationId = id
    out.props.replyTo = REPLY_TO
    out.props.mandatory = true
    const until = (e.meta.deadline ?? now + 30_000) + REQUEST_SLACK_MS
    return new Promise<Reply>((resolve) => {
      this.waiting.set(id, { until, resolve })
      this.sweeper.arm()
      const write = () => {
        const ch = this.ch
        if (ch === undefined) {
          this.waiting.delete(id)
          return resolve(errorReply(unavailable('the broker connection is down')))
        }
        try {
          if (!ch.publish(exchange, routingKey, out.body, out.props)) this.blocked = true
        } catch (err) {
          this.waiting.delete(id)
          resolve(errorReply(unavailable('the request could not be sent', err)))
        }
      }
      if (!this.blocked) return write()
      // Backpressure: the socket buffer is full, so wait for `drain` before writing more.
      if (this.held.length >= this.options.bufferSize) {
        this.waiting.delete(id)
        return resolve(
          errorReply(
            new StoaError('OVERLOADED', `${this.options.bufferSize} requests already wait for the socket to drain`),
          ),
        )
      }
      this.held.push(write)
    })
  }

  private answer(m: ConsumeMessage): void {
    const id = m.properties.correlationId as string | undefined
    const w = id === undefined ? undefined : this.waiting.get(id)
    if (w === undefined) return // the caller gave up long ago
    this.waiting.delete(id!)
    w.resolve(this.codec.decode(m))
  }
}

/**
 * The sending side of tasks and events: tasks go to their service's durable queue, events to
 * the topic exchange, both persistent and confirmed. The task queues it has used are declared
 * again on every reconnection, before buffered publishes are flushed, so a task is never
 * published into a queue that does not exist.
 */
export class Sender implements LinkUser {
  private readonly known = new Map<string, Promise<void> | true>()
  private model: ChannelModel | undefined

  constructor(
    private readonly link: Link,
    private readonly publisher: Publisher,
    private readonly options: ResolvedAmqpOptions,
    private readonly names: Names,
    /** The instance's: a publish's wait and the time a task has left are counted on it. */
    private readonly clock: Clock,
  ) {}

  async up(model: ChannelModel): Promise<void> {
    const ch = await model.createChannel()
    ch.on('error', () => undefined)
    try {
      await declareEvents(ch, this.names)
      for (const service of this.known.keys()) await declareTasks(ch, this.names, this.options, service)
    } finally {
      await ch.close().catch(() => undefined)
    }
    for (const service of this.known.keys()) this.known.set(service, true)
    this.model = model
  }

  down(): void {
    this.model = undefined
  }

  /**
   * Publishes a task or an event; resolves when the broker confirmed it. Never rejects. Once a
   * task's queue is declared (every send but a service's first), the publish is chained on
   * directly, with no async frame of its own: this is the path every relayed message takes.
   */
  deliver(e: Envelope): Promise<Reply> {
    try {
      // Whichever ends first: the caller's deadline, or how long a publish may wait for the broker.
      const now = this.clock.now()
      const until = Math.min(e.meta.deadline ?? Number.POSITIVE_INFINITY, now + this.options.publishWaitMs)
      if (e.kind === 'send') {
        assertTaskName(e.name)
        const service = taskService(e.name)
        const declaring = this.declared(service)
        if (declaring !== undefined) return this.afterDeclaring(declaring, service, e, until)
        return this.publisher.confirm(
          '',
          this.names.tasks(service),
          encodeRequest(e, this.options.maxBodyBytes, now),
          until,
        )
      }
      assertEventName(e.name)
      return this.publisher.confirm(this.names.events, e.name, encodeRequest(e, this.options.maxBodyBytes, now), until)
    } catch (err) {
      return Promise.resolve(failed(err))
    }
  }

  /** A service's first task: published once its queue is declared. */
  private async afterDeclaring(declaring: Promise<void>, service: string, e: Envelope, until: number): Promise<Reply> {
    try {
      // A broker that stopped answering would hold the declaration, and the send, forever.
      if (!(await settleWithin(declaring, until - this.clock.now(), this.clock)))
        throw unavailable('the broker did not declare the task queue in time')
      await declaring
      const out = encodeRequest(e, this.options.maxBodyBytes, this.clock.now())
      await this.publisher.publish('', this.names.tasks(service), out, until)
      return OK
    } catch (err) {
      return failed(err)
    }
  }

  private declared(service: string): Promise<void> | void {
    const state = this.known.get(service)
    if (state === true) return
    if (state !== undefined) return state
    if (this.model === undefined || !this.link.isUp) {
      // Down: the next `up` declares it before the buffered publish goes out.
      this.known.set(service, Promise.resolve())
      return
    }
    const p = this.link
      .withChannel((ch) => declareTasks(ch, this.names, this.options, service).then(() => undefined))
      .then(
        () => void this.known.set(service, true),
        (err: unknown) => {
          this.known.delete(service)
          throw err instanceof StoaError ? err : unavailable(`cannot declare the task queue of "${service}"`, err)
        },
      )
    this.known.set(service, p)
    return p
  }
}

/** The client a transport hands to the kernel. */
export function createClient(
  rpc: RpcCaller | undefined,
  sender: Sender,
  target: string | undefined,
  rpcQueue: (service: string) => string,
): TransportClient {
  const queue = target === undefined ? undefined : rpcQueue(target)
  return {
    deliver(e) {
      if (e.kind !== 'act') return sender.deliver(e)
      if (rpc === undefined || queue === undefined) {
        return Promise.resolve(
          errorReply(new StoaError('NOT_FOUND', 'this amqp client has no target service for acts')),
        )
      }
      return rpc.call('', queue, e)
    },
  }
}

const OK: Reply = { ok: true, out: undefined }
const failed = (err: unknown): Reply => errorReply(toStoaError(err))
