import { randomUUID } from 'node:crypto'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { EnvelopeKind, Reply, RetryPolicy, StoaErrorJSON, Timer, TransportHost } from '../../actions/transport.js'
import {
  bulkheadRefusal,
  decideRetry,
  ERRORS,
  errorReply,
  isErrorCode,
  StoaError,
  settleWithin,
} from '../../actions/transport.js'
import type { Link, LinkUser, Publisher } from './connection.js'
import { describe, openChannel } from './connection.js'
import type { ResolvedAmqpOptions } from './options.js'
import type { Names } from './topology.js'
import {
  declareDlq,
  declareEventQueue,
  declareInstanceQueue,
  declareRetry,
  declareRpc,
  declareTasks,
} from './topology.js'
import { deadLetterCopy, decodeRequest, encodeReply, retryCopy } from './wire.js'

/** A copy sent to a delay or dead-letter queue may wait this long for the broker's confirm. */
const COPY_CONFIRM_MS = 30_000

/**
 * The listening side: consumes the service's RPC queue, its task queue and its event queue on
 * one channel with a bounded prefetch, runs each delivery through the kernel, and acknowledges
 * only once the outcome is settled: the reply sent, the action done, or a copy confirmed in
 * the delay or dead-letter queue. A crash before that leaves the delivery unacknowledged, and
 * RabbitMQ gives it to another instance.
 */
export class Listener implements LinkUser {
  private ch: Channel | undefined
  private tags: string[] = []
  private readonly inflight = new Set<Promise<void>>()
  private stopping = false
  /** When it stopped taking deliveries: the grace period of `close()` counts from there. */
  private stoppedAt: number | undefined
  private paused = false
  private rpcQueue: string | undefined
  /** The queues consumed on the current channel, to consume again after holding back. */
  private queues: [string, QueueKind][] = []
  /** Names this instance's own event queue, the same across reconnections. */
  private readonly instanceId = randomUUID().slice(0, 12)
  /** Set while consumption is held back because an action is at its bulkhead limit. */
  private holdTimer: Timer | undefined

  constructor(
    private readonly link: Link,
    private readonly publisher: Publisher,
    private readonly host: TransportHost,
    private readonly options: ResolvedAmqpOptions,
    private readonly names: Names,
    private readonly policy: RetryPolicy,
  ) {}

  async up(model: ChannelModel): Promise<void> {
    if (this.stopping) return
    const { host, names, options } = this
    const ch = await openChannel(model.createChannel(), this.link, host.log, 'consumer', (closed) => {
      if (this.ch !== closed) return false
      this.ch = undefined
      return !this.stopping
    })
    await ch.prefetch(options.prefetch)
    await declareDlq(ch, names, options, host.service)
    if (this.policy.delays.length > 0) await declareRetry(ch, names, options, this.policy.delays)
    const queues: [string, QueueKind][] = []
    this.rpcQueue = await declareRpc(ch, names, host.service)
    queues.push([this.rpcQueue, 'act'])
    if (host.tasks().length > 0) queues.push([await declareTasks(ch, names, options, host.service), 'send'])
    const subs = host.subscriptions()
    if (subs.length > 0) queues.push([await declareEventQueue(ch, names, options, host.service, subs), 'emit'])
    const each = host.instanceSubscriptions()
    if (each.length > 0)
      queues.push([await declareInstanceQueue(ch, names, host.service, this.instanceId, each), 'instance'])
    this.ch = ch
    this.tags = []
    this.paused = false
    this.queues = queues
    this.clearHold()
    // Intake held (the service's database is down): connected and declared, but not consuming
    // until the host lets go (`resumeIntake`).
    if (host.held) {
      this.paused = true
      return
    }
    await this.consume(ch)
  }

  /** The host holds intake: cancel the consumers; deliveries in hand are still settled. */
  async pauseIntake(): Promise<void> {
    if (this.stopping) return
    this.clearHold()
    await this.pause()
  }

  /** The host let go: consume again, unless closing, disconnected (`up` will) or held anew. */
  async resumeIntake(): Promise<void> {
    const ch = this.ch
    if (this.stopping || ch === undefined || !this.paused || this.host.held) return
    this.clearHold()
    this.paused = false
    await this.consume(ch)
  }

  private async consume(ch: Channel): Promise<void> {
    for (const [queue, kind] of this.queues) {
      const { consumerTag } = await ch.consume(queue, (m) => {
        // A null delivery means the broker cancelled the consumer (its queue was deleted).
        if (m === null) return void (this.stopping || this.link.restart(`consumer of ${queue} cancelled by the broker`))
        this.track(
          kind === 'act'
            ? this.request(ch, m)
            : kind === 'instance'
              ? this.instance(ch, m)
              : this.work(ch, m, kind, queue),
        )
      })
      this.tags.push(consumerTag)
    }
  }

  down(): void {
    // Unacknowledged deliveries return to their queues with the channel; nothing to undo here.
    this.ch = undefined
    this.tags = []
    this.clearHold()
  }

  /**
   * Stops consuming, waits (up to `graceMs`) for the deliveries in hand to be answered and
   * acknowledged, then releases the channel and, when no other instance uses it and it is
   * empty, the RPC queue, so callers learn at once that nobody listens.
   */
  async close(): Promise<void> {
    await this.stopAccepting()
    if (this.inflight.size > 0) {
      const left = Math.max(0, this.stoppedAt! + this.options.graceMs - this.host.clock.now())
      await settleWithin(Promise.allSettled([...this.inflight]), left, this.host.clock)
      if (this.inflight.size > 0)
        this.host.log.warn(
          { inflight: this.inflight.size },
          'amqp: closing with deliveries in hand; RabbitMQ will redeliver them',
        )
    }
    const ch = this.ch
    this.ch = undefined
    if (ch !== undefined) await ch.close().catch(() => undefined)
    const rpc = this.rpcQueue
    if (rpc !== undefined && this.link.isUp) {
      await this.link.withChannel((c) => c.deleteQueue(rpc, { ifUnused: true, ifEmpty: true })).catch(() => undefined)
    }
  }

  /**
   * The first step of a graceful close: cancels the consumers, for good (a reconnection does not
   * start them again). Deliveries in hand are still answered and acknowledged; those still
   * running when `close()` ends return to their queue unacknowledged.
   */
  async stopAccepting(): Promise<void> {
    this.stopping = true
    this.clearHold()
    this.stoppedAt ??= this.host.clock.now()
    await this.pause()
  }

  /** Stops taking new deliveries; those in hand are still answered and acknowledged. */
  private async pause(): Promise<void> {
    if (this.paused) return
    this.paused = true
    const ch = this.ch
    const tags = this.tags.splice(0)
    if (ch === undefined) return
    for (const tag of tags) await ch.cancel(tag).catch(() => undefined)
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p)
    void p.then(
      () => this.inflight.delete(p),
      (err: unknown) => {
        this.inflight.delete(p)
        this.host.log.error({ err: describe(err) }, 'amqp: delivery handling failed')
      },
    )
  }

  /** A request: run it, send the reply to its reply-to address, acknowledge. */
  private async request(ch: Channel, m: ConsumeMessage): Promise<void> {
    this.options.observer?.received?.('act')
    const incoming = decodeRequest(m, 'act', this.options.maxBodyBytes, this.host.clock.now())
    let reply: Reply
    if (!incoming.ok) reply = errorReply(incoming.error)
    else reply = await this.host.dispatch(incoming.envelope)
    if (refused(reply, this.host)) return this.giveBack(ch, m)
    const replyTo = m.properties.replyTo as string | undefined
    if (replyTo !== undefined && replyTo !== '') {
      const out = encodeReply(reply, m.properties.correlationId as string | undefined)
      try {
        ch.publish('', replyTo, out.body, out.props)
      } catch {
        return // the channel is gone; the request returns to the queue with it
      }
    }
    ack(ch, m)
  }

  /** A task or an event: run it, then acknowledge, retry later, or dead-letter. */
  private async work(ch: Channel, m: ConsumeMessage, kind: EnvelopeKind, queue: string): Promise<void> {
    this.options.observer?.received?.(kind)
    const incoming = decodeRequest(m, kind, this.options.maxBodyBytes, this.host.clock.now())
    const reply: Reply = incoming.ok ? await this.host.dispatch(incoming.envelope) : errorReply(incoming.error)
    const busy = bulkheadRefusal(reply)
    if (busy !== undefined) return this.holdBack(ch, m, busy)
    // The header counts the tries made before this one. A task that failed while the host holds
    // intake goes back uncounted, as one refused while closing.
    const giveBack = refused(reply, this.host) || heldBack(reply, this.host)
    const outcome = decideRetry(reply.ok ? undefined : reply.error, incoming.attempt + 1, this.policy, giveBack)
    if (outcome.do === 'ack') return ack(ch, m)
    if (outcome.do === 'requeue') return this.giveBack(ch, m)
    const until = this.host.clock.now() + COPY_CONFIRM_MS
    try {
      if (outcome.do === 'retry') {
        // The copy goes to the delay queue for its backoff step, keyed by the queue it returns to.
        // The wait itself is RabbitMQ's (the queue's message TTL, on the broker's time): it cannot
        // follow an instance's virtual clock. What is stoa's, the decision (which try, how long),
        // is `decideRetry`, the rule stoa/testing's simulated broker runs on the virtual clock.
        await this.publisher.publish(
          this.names.retry,
          queue,
          retryCopy(m, outcome.attempt, outcome.delayMs),
          until,
          false,
        )
        this.options.observer?.retried?.(kind as 'send' | 'emit', outcome.attempt)
      } else {
        const name = incoming.ok ? incoming.envelope.name : undefined
        this.host.log.warn({ error: outcome.error, name, attempts: outcome.attempts, queue }, 'amqp: dead-lettered')
        const dlq = this.names.dlq(this.host.service)
        await this.publisher.publish('', dlq, deadLetterCopy(m, outcome.error, outcome.attempts, queue), until, false)
        this.options.observer?.deadLettered?.(kind as 'send' | 'emit', outcome.error.code)
      }
    } catch (err) {
      // The copy is not safely stored: keep the original, which the broker redelivers. A copy
      // with nowhere to go means a delay or dead-letter queue was deleted: declare them again.
      if (err instanceof StoaError && err.details?.unroutable !== undefined)
        this.link.restart('a retry or dead-letter queue is missing')
      return nack(ch, m)
    }
    ack(ch, m)
  }

  /**
   * An event on this instance's own queue: run its instance subscriptions, then acknowledge
   * whatever the outcome. At most once by design: a retry or a requeue would come back to this
   * same instance, and a dead letter would be one per instance; a failure is logged.
   */
  private async instance(ch: Channel, m: ConsumeMessage): Promise<void> {
    this.options.observer?.received?.('emit')
    const incoming = decodeRequest(m, 'emit', this.options.maxBodyBytes, this.host.clock.now())
    const reply: Reply = incoming.ok
      ? await this.host.dispatch({ ...incoming.envelope, each: 'instance' })
      : errorReply(incoming.error)
    if (!reply.ok && !refused(reply, this.host))
      this.host.log.warn({ error: reply.error, routingKey: m.fields.routingKey }, 'amqp: an instance event failed')
    ack(ch, m)
  }

  /**
   * An action is at its bulkhead limit: rather than fail the delivery (a retry, a dead letter),
   * return it to its queue, not counted as a try, where another instance or this one later takes
   * it, and stop taking deliveries for the time the bulkhead asks (`retryAfterMs`), on the
   * instance's clock (under a virtual one, until the test moves time). The work in hand goes on
   * meanwhile; the broker holds the rest.
   */
  private holdBack(ch: Channel, m: ConsumeMessage, error: StoaErrorJSON): void {
    nack(ch, m)
    if (this.stopping || this.holdTimer !== undefined) return
    const ms =
      typeof error.details?.retryAfterMs === 'number'
        ? Math.min(Math.max(error.details.retryAfterMs, 10), 30_000)
        : 1000
    void this.pause()
    this.holdTimer = this.host.clock.setTimer(() => {
      this.holdTimer = undefined
      if (this.stopping || this.ch !== ch || this.host.held) return
      this.paused = false
      this.consume(ch).catch((err: unknown) => {
        this.host.log.warn({ err: describe(err) }, 'amqp: cannot consume again after holding back')
        this.link.restart('consuming again failed')
      })
    }, ms)
    this.holdTimer.unref()
  }

  private clearHold(): void {
    if (this.holdTimer !== undefined) this.host.clock.clearTimer(this.holdTimer)
    this.holdTimer = undefined
  }

  /** This instance is closing: return the delivery for another instance and stop taking more. */
  private giveBack(ch: Channel, m: ConsumeMessage): void {
    nack(ch, m)
    void this.pause()
  }
}

/** What a consumed queue carries: requests, tasks, the service's events, or this instance's. */
type QueueKind = EnvelopeKind | 'instance'

/**
 * Whether the kernel refused the work because the instance is closing, as opposed to an action
 * that itself failed with `CLOSED` (a downstream service closed, say), which is an answer.
 */
function refused(reply: Reply, host: TransportHost): boolean {
  return !reply.ok && reply.error.code === 'CLOSED' && host.closing
}

/**
 * Whether a task or event failed while the host holds intake (its database is down) with an
 * error that may pass later: the outage's doing, so it goes back to the queue uncounted rather
 * than spending a try, and never reaches the dead-letter queue during a transient outage.
 */
function heldBack(reply: Reply, host: TransportHost): boolean {
  return !reply.ok && host.held && isErrorCode(reply.error.code) && ERRORS[reply.error.code].retryable
}

function ack(ch: Channel, m: ConsumeMessage): void {
  try {
    ch.ack(m)
  } catch {
    // The channel closed: the broker requeues the delivery itself.
  }
}

function nack(ch: Channel, m: ConsumeMessage): void {
  try {
    ch.nack(m, false, true)
  } catch {
    // As above.
  }
}
