import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream'
import type { Msg, Subscription } from '@nats-io/transport-node'
import type { EnvelopeKind, Reply, RetryPolicy, TransportHost } from '../../actions/transport.js'
import {
  bulkheadRefusal,
  decideRetry,
  ERRORS,
  errorReply,
  isErrorCode,
  matchesSubscription,
  settleWithin,
} from '../../actions/transport.js'
import type { Connected, Link } from './connection.js'
import type { ResolvedNatsOptions } from './options.js'
import type { Names, StreamSpec } from './topology.js'
import { dlqStream, eventFilter, eventStream, taskStream } from './topology.js'
import { deadLetterHeaders, decodeRequest, encodeReply } from './wire.js'

/** A dead letter may wait this long for JetStream's ack before the original is handed back. */
const DEAD_LETTER_ACK_MS = 30_000

/** The held-back deliveries remembered at most (the oldest are forgotten first). */
const FORGIVEN_MAX = 10_000

/**
 * The listening side: a queue-group subscription on the service's request subject (acts), and
 * a durable pull consumer on its task stream and on the event stream, shared by every instance
 * of the service. A task or event is acknowledged only once its outcome is settled: the action
 * done, handed back with a delay for its next try, or stored in the dead-letter stream. A crash
 * before that leaves it unacknowledged, and JetStream gives it to another instance once
 * `ackWaitMs` has passed; while an action runs, the listener tells JetStream it is still at
 * work, so a slow action is not taken for a crashed one.
 */
export class Listener {
  private sub: Subscription | undefined
  private readonly consumers = new Set<ConsumerMessages>()
  /** Consumers found gone and not yet made again. */
  private missing = 0
  /** The plain subscription of this instance's `{ each: 'instance' }` events. */
  private each: Subscription | undefined
  private readonly inflight = new Set<Promise<void>>()
  /** Requests (acts) being answered: counted, not tracked as promises, as there are many. */
  private acts = 0
  /** Told when the last request in hand is answered, while closing waits for it. */
  private actsIdle: (() => void) | undefined
  private stopping = false
  private stoppedAt: number | undefined
  /** The host holds intake (its database is down): the consumers are closed until it lets go. */
  private paused = false
  /** How to start each consumer again, after a hold. */
  private readonly intake: (() => Promise<void>)[] = []
  /**
   * Deliveries handed back because they failed while the host was held, by stream sequence:
   * JetStream counts every delivery, and those are not tries of the action.
   */
  private readonly forgiven = new Map<number, number>()
  private c: Connected | undefined
  /** Successful deliveries whose ack is written at the end of this turn, all in one socket write. */
  private acks: JsMsg[] = []
  /** Deliveries whose action runs: each told to JetStream as still at work, by one timer. */
  private readonly working = new Set<JsMsg>()
  private beat: NodeJS.Timeout | undefined

  constructor(
    private readonly link: Link,
    private readonly host: TransportHost,
    private readonly options: ResolvedNatsOptions,
    private readonly names: Names,
    private readonly policy: RetryPolicy,
  ) {}

  /** Subscribes, creates the streams and consumers, and starts taking deliveries. */
  async start(): Promise<void> {
    const { host, names, options, link } = this
    const c = await link.connect()
    this.c = c
    const settings = { replicas: options.replicas }
    const tasks = host.tasks()
    const subs = host.subscriptions()
    if (tasks.length > 0 || subs.length > 0) await link.ensureStream(c, dlqStream(names, settings, host.service))
    if (tasks.length > 0) {
      const cfg = taskStream(names, settings, host.service)
      await link.ensureStream(c, cfg)
      await this.intakeOf(() => this.consume(c, cfg, names.taskConsumer, undefined, 'send'))
    }
    if (subs.length > 0) {
      const cfg = eventStream(names, settings)
      await link.ensureStream(c, cfg)
      await this.intakeOf(() => this.consume(c, cfg, host.service, eventFilter(names, subs), 'emit'))
    }
    const each = host.instanceSubscriptions()
    if (each.length > 0) {
      // Every instance hears these: a plain core subscription on the event subjects, no queue
      // group and no consumer, so at most once (nats.js resubscribes after a reconnection;
      // what was published meanwhile is missed).
      this.each = c.nc.subscribe(eventFilter(names, each), {
        callback: (err, m) => {
          if (err === null) this.track(this.instance(m))
        },
      })
    }
    const subject = names.rpc(host.service)
    // Every instance joins one queue group, so each request reaches one of them.
    this.sub = c.nc.subscribe(subject, {
      queue: subject,
      callback: (err, m) => {
        if (err === null) this.request(m)
      },
    })
    // The subscription is in place once the server has seen it: a request right after start
    // must not meet "no responders".
    await c.nc.flush()
  }

  /** Keeps how to start a consumer, and starts it unless the host holds intake already. */
  private async intakeOf(start: () => Promise<void>): Promise<void> {
    this.intake.push(start)
    if (this.host.held) this.paused = true
    else await start()
  }

  /**
   * The host holds intake (its database is down): close the consumers, so this instance takes
   * no task or event until it lets go. Deliveries in hand are still settled; those pulled but not
   * yet handed over come again after `ackWaitMs`. Requests (acts) are still answered.
   */
  async pauseIntake(): Promise<void> {
    if (this.stopping || this.paused) return
    this.paused = true
    const open = [...this.consumers]
    this.consumers.clear()
    await Promise.all(open.map((messages) => messages.close().catch(() => undefined)))
  }

  /** The host let go: consume again, unless closing or held anew. */
  async resumeIntake(): Promise<void> {
    if (this.stopping || !this.paused || this.host.held) return
    this.paused = false
    for (const start of this.intake) await start()
  }

  /** Creates (or updates) a durable consumer on `stream` and starts taking its deliveries. */
  private async consume(
    c: Connected,
    stream: StreamSpec,
    durable: string,
    filter: string | undefined,
    kind: EnvelopeKind,
  ): Promise<void> {
    const cfg = {
      durable_name: durable,
      ack_policy: 'explicit' as const,
      ack_wait: this.options.ackWaitMs * 1_000_000,
      // Retries are decided here (and delayed with a nak); JetStream never gives up on its own.
      max_deliver: -1,
      max_ack_pending: this.options.prefetch * 16,
      // A consumer no instance pulls from for this long is removed by the server: the consumer
      // of a service that no longer subscribes (or no longer runs) stops holding events.
      inactive_threshold: this.options.consumerIdleMs * 1_000_000,
      ...(filter === undefined ? {} : { filter_subject: filter }),
    }
    try {
      await c.jsm.consumers.add(stream.name, cfg)
    } catch {
      // It exists with other settings (a subscription added since): take the new ones.
      await c.jsm.consumers.update(stream.name, durable, cfg)
    }
    const consumer = await c.js.consumers.get(stream.name, durable)
    const messages = await consumer.consume({ max_messages: this.options.prefetch })
    this.consumers.add(messages)
    void this.pump(messages, kind)
    void this.watch(messages, async () => {
      // The stream may be gone too: make it again first (a no-op when it is there).
      this.link.forgetStream(stream.name)
      await this.link.ensureStream(c, stream)
      await this.consume(c, stream, durable, filter, kind)
    })
  }

  /**
   * Watches a consumer's notices. When its consumer or its stream is gone (deleted by an
   * operator, lost with a server that held it), nats.js only keeps asking for it: make both
   * again and consume afresh, retrying each second until it works or the listener stops.
   * Readiness is false meanwhile, since this instance takes none of that work.
   */
  private async watch(messages: ConsumerMessages, again: () => Promise<void>): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type !== 'consumer_deleted' && s.type !== 'consumer_not_found' && s.type !== 'stream_not_found') continue
      if (this.stopping) return
      this.host.log.warn({ notice: s.type }, 'nats: a consumer is gone; making it again')
      this.missing++
      this.consumers.delete(messages)
      await messages.close().catch(() => undefined)
      for (;;) {
        // A pause first, and between tries: a stream and consumer made again at once after the
        // stream was deleted can come back stuck on nats-server 2.9 (the consumer holds a pending
        // message and a waiting pull, and delivers nothing), while the server still removes the old.
        await new Promise((r) => setTimeout(r, 1000).unref())
        if (this.stopping) break
        try {
          await again()
          this.host.log.info({}, 'nats: consumer made again')
          break
        } catch (err) {
          this.host.log.warn({ err: String(err) }, 'nats: cannot make the consumer again yet')
        }
      }
      this.missing--
      return
    }
  }

  /** Takes deliveries one by one, at most `prefetch` of them in hand at once. */
  private async pump(messages: ConsumerMessages, kind: EnvelopeKind): Promise<void> {
    try {
      for await (const m of messages) {
        if (this.stopping || this.paused) {
          // Taken after the stop or the hold: hand it back at once for another instance.
          m.nak()
          continue
        }
        this.track(this.work(m, kind))
        while (this.inflight.size >= this.options.prefetch) await Promise.race(this.inflight)
      }
    } catch (err) {
      if (!this.stopping) this.host.log.error({ err: String(err) }, 'nats: a consumer stopped')
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => {
      this.host.log.error({ err: String(err) }, 'nats: delivery handling failed')
    })
    this.inflight.add(tracked)
    void tracked.then(() => this.inflight.delete(tracked))
  }

  /**
   * A request: run it and answer on its reply subject. No async function and no promise tracked
   * per request (three promises and a set entry before): a count, and one callback.
   */
  private request(m: Msg): void {
    this.host.observer.received?.('act')
    const incoming = decodeRequest(m, 'act', '', this.options.maxBodyBytes)
    if (!incoming.ok) {
      answer(m, errorReply(incoming.error))
      return
    }
    this.acts++
    this.host.dispatch(incoming.envelope).then(
      (reply) => {
        answer(m, reply)
        this.actDone()
      },
      (err: unknown) => {
        this.host.log.error({ err: String(err) }, 'nats: delivery handling failed')
        this.actDone()
      },
    )
  }

  private actDone(): void {
    if (--this.acts === 0) this.actsIdle?.()
  }

  /** An event for this instance's own subscriptions: run them; a failure is logged, never retried. */
  private async instance(m: Msg): Promise<void> {
    if (this.stopping) return
    const incoming = decodeRequest(m, 'emit', this.names.eventBase, this.options.maxBodyBytes)
    if (!incoming.ok) return void this.host.log.warn({ error: incoming.error, subject: m.subject }, 'nats: bad event')
    const name = incoming.envelope.name!
    if (!this.host.instanceSubscriptions().some((s) => matchesSubscription(s, name))) return
    const reply = await this.host.dispatch({ ...incoming.envelope, each: 'instance' })
    if (!reply.ok && !this.host.closing)
      this.host.log.warn({ error: reply.error, subject: m.subject }, 'nats: an instance event failed')
  }

  /** A task or an event: run it, then acknowledge, hand back for a later try, or dead-letter. */
  private async work(m: JsMsg, kind: EnvelopeKind): Promise<void> {
    const base = kind === 'send' ? this.names.taskBase : this.names.eventBase
    const incoming = decodeRequest(m, kind, base, this.options.maxBodyBytes)
    if (kind === 'emit' && incoming.ok) {
      // A wide filter (`P.events.>`, or `user.*` for `user.auth*`) lets in events nobody here wants.
      const name = incoming.envelope.name!
      if (!this.host.subscriptions().some((s) => matchesSubscription(s, name))) return m.ack()
    }
    const observer = this.host.observer
    observer.received?.(kind)
    let reply: Reply
    if (incoming.ok) {
      this.working.add(m)
      this.beat ??= this.startBeat()
      try {
        reply = await this.host.dispatch(incoming.envelope)
      } finally {
        this.working.delete(m)
      }
    } else reply = errorReply(incoming.error)
    if (reply.ok && this.forgiven.size === 0) return this.ack(m)
    const busy = bulkheadRefusal(reply)
    if (busy !== undefined) {
      // A bulkhead turned it down: not the action's failure. Back to the stream after the wait it asks.
      const ms = typeof busy.details?.retryAfterMs === 'number' ? busy.details.retryAfterMs : 1000
      return m.nak(Math.min(Math.max(ms, 10), 30_000))
    }
    const seq = m.info.streamSequence
    if (!reply.ok && this.host.held && isErrorCode(reply.error.code) && ERRORS[reply.error.code].retryable) {
      // It failed because of what holds the host (the database is down): back to the stream,
      // not counted as a try. The instance takes no more until the host lets go.
      this.forgiven.set(seq, (this.forgiven.get(seq) ?? 0) + 1)
      // One taken by another instance since is never seen here again: keep the map bounded.
      if (this.forgiven.size > FORGIVEN_MAX) this.forgiven.delete(this.forgiven.keys().next().value!)
      return m.nak(1000)
    }
    const tries = m.info.deliveryCount - (this.forgiven.get(seq) ?? 0)
    this.forgiven.delete(seq)
    const refused = !reply.ok && reply.error.code === 'CLOSED' && this.host.closing
    const outcome = decideRetry(reply.ok ? undefined : reply.error, tries, this.policy, refused)
    if (outcome.do === 'ack') return this.ack(m)
    if (outcome.do === 'requeue') return m.nak()
    if (outcome.do === 'retry') {
      m.nak(outcome.delayMs)
      observer.retried?.(kind as 'send' | 'emit', outcome.attempt)
      return
    }
    const c = this.c!
    this.host.log.warn({ error: outcome.error, subject: m.subject, attempts: outcome.attempts }, 'nats: dead-lettered')
    const sent = performance.now()
    try {
      await c.js.publish(this.names.dlqSubject(this.host.service), m.data, {
        headers: deadLetterHeaders(m, outcome.error, outcome.attempts, c.headers()),
        timeout: DEAD_LETTER_ACK_MS,
      })
      observer.confirmed?.(performance.now() - sent, true)
    } catch (err) {
      // Not safely stored: keep the original, which JetStream delivers again.
      this.host.log.warn({ err: String(err) }, 'nats: a dead letter was not stored; the original stays')
      return m.nak(1000)
    }
    m.ack()
    observer.deadLettered?.(kind as 'send' | 'emit', outcome.error.code)
  }

  /**
   * Acknowledges a settled delivery. nats.js writes what was published once the microtasks of
   * a turn are run, and deliveries finish in different ones: acked at once, each ack would be a
   * socket write of its own. Gathered to the end of the turn (`setImmediate`), the acks of every
   * delivery that finished in it leave in one write. A crash in between loses only acks,
   * which JetStream answers by delivering again, as with an ack lost on the wire.
   */
  private ack(m: JsMsg): void {
    if (this.acks.push(m) === 1) setImmediate(() => this.flushAcks())
  }

  private flushAcks(): void {
    const acks = this.acks
    this.acks = []
    try {
      for (const m of acks) m.ack()
    } catch {
      // The connection is closed: JetStream delivers these again after ack_wait.
    }
  }

  /**
   * Tells JetStream, every third of `ackWaitMs`, that the deliveries whose action runs are still
   * at work, so ack_wait bounds a crash and not an action's length. One timer for all, stopped
   * when none runs.
   */
  private startBeat(): NodeJS.Timeout {
    const beat = setInterval(
      () => {
        if (this.working.size === 0) {
          clearInterval(beat)
          this.beat = undefined
          return
        }
        for (const m of this.working) m.working()
      },
      Math.max(500, this.options.ackWaitMs / 3),
    )
    beat.unref()
    return beat
  }

  /** Not ready while a consumer found gone is not made again: this instance takes none of its work. */
  health(): { ready: true } | { ready: false; reason: string } {
    return this.missing > 0 && !this.stopping
      ? { ready: false, reason: 'a JetStream consumer of this service is gone and not yet made again' }
      : { ready: true }
  }

  /**
   * The first step of a graceful close: no new requests (the subscription is drained: what
   * already arrived is still answered) and no new deliveries from the consumers.
   */
  async stopAccepting(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.stoppedAt = Date.now()
    const sub = this.sub
    const each = this.each
    this.sub = undefined
    this.each = undefined
    await Promise.all([
      sub?.drain().catch(() => undefined),
      each?.drain().catch(() => undefined),
      ...[...this.consumers].map((messages) => messages.close().catch(() => undefined)),
    ])
  }

  /** Stops taking work and waits, up to `graceMs`, for the work in hand to be answered and acknowledged. */
  async close(): Promise<void> {
    await this.stopAccepting()
    if (this.inflight.size > 0 || this.acts > 0) {
      const left = Math.max(0, this.stoppedAt! + this.options.graceMs - Date.now())
      const acts = this.acts === 0 ? undefined : new Promise<void>((resolve) => (this.actsIdle = resolve))
      await settleWithin(Promise.allSettled([...this.inflight, acts]), left)
      this.actsIdle = undefined
    }
    this.flushAcks()
    clearInterval(this.beat)
    this.beat = undefined
    if (this.inflight.size > 0 || this.acts > 0)
      this.host.log.warn(
        { inflight: this.inflight.size + this.acts },
        'nats: closing with deliveries in hand; JetStream will deliver them again',
      )
  }
}

/** Answers a request on its reply subject, when it has one. */
function answer(m: Msg, reply: Reply): void {
  if (m.reply === undefined || m.reply === '') return
  try {
    m.respond(encodeReply(reply))
  } catch {
    // The connection is closed: the caller times out, as it would with any lost reply.
  }
}
