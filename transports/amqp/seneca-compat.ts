import { randomUUID } from 'node:crypto'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { Envelope, Message, Pattern, Reply, TransportClient, TransportHost } from '../../actions/transport.js'
import {
  errorReply,
  isErrorCode,
  matchesPattern,
  StoaError,
  settleWithin,
  toStoaError,
  unwritableResult,
} from '../../actions/transport.js'
import type { RequestCodec, RpcCaller } from './client.js'
import type { Link, LinkUser } from './connection.js'
import { openChannel } from './connection.js'
import type { ResolvedAmqpOptions } from './options.js'
import type { Outgoing } from './wire.js'

/**
 * seneca-amqp-transport's wire format, so Seneca services using that plugin and stoa services
 * call each other: the one place that knows Seneca's message shape.
 *
 * Names (with `prefix`, default `seneca`, as seneca-amqp-transport's defaults):
 * - `P.topic`: topic exchange every request is published to, with the routing key made of the
 *   matching pin's pairs, keys sorted, as `key.value.key.value` (`cmd.sum.role.math`; a dot in
 *   a value is written `[:dot:]`).
 * - `P.add.<pins>`: a listener's queue (`seneca.add.role:math.cmd:sum`; `*` written `any`),
 *   durable, with `x-dead-letter-exchange: P.dlx` and `x-message-ttl: 60000`, bound with each
 *   pin's routing key.
 * - `P.dlx` (topic) and `P.dlq` bound with `#`: where unreadable requests go.
 *
 * A request body is `{ id: "<message>/<trace>", kind: "act", origin, track, time, act, sync }`,
 * `act` being the message (its `timeout$` carries the time left); its `reply-to` and
 * `correlation-id` properties say where the reply goes. The reply body is `{ id, kind: "res",
 * origin, accept, track, time, sync, res }`, or with `error: { message, name, code, details }`.
 *
 * Seneca has no tasks or events: this mode carries acts only (a task is refused with
 * `NOT_FOUND`, an event is accepted and goes nowhere). Unlike seneca-amqp-transport,
 * stoa acknowledges a request after replying, not before running it.
 */
export interface SenecaNames {
  readonly exchange: string
  readonly dlx: string
  readonly dlq: string
  readonly listenQueue: (pins: readonly Pattern[]) => string
}

/** The names derived from one prefix. */
export function senecaNames(prefix: string): SenecaNames {
  return {
    exchange: `${prefix}.topic`,
    dlx: `${prefix}.dlx`,
    dlq: `${prefix}.dlq`,
    listenQueue: (pins) => `${prefix}.add.${queueSuffix(pins)}`,
  }
}

/** A pin's routing key: its pairs with keys sorted, `key.value` joined by dots. */
export function senecaTopic(pin: Pattern): string {
  return Object.keys(pin)
    .sort()
    .flatMap((k) => [k, String(pin[k]).replace(/\./g, '[:dot:]')])
    .join('.')
}

/** A listener queue's name after its pins: pairs merged by key in first-seen order. */
function queueSuffix(pins: readonly Pattern[]): string {
  const merged = new Map<string, string[]>()
  for (const pin of pins) {
    for (const [k, v] of Object.entries(pin)) {
      const values = merged.get(k) ?? []
      if (!values.includes(String(v))) values.push(String(v))
      merged.set(k, values)
    }
  }
  return [...merged]
    .map(([k, values]) => `${k}:${values.length === 1 ? values[0]!.replace(/\*/g, 'any') : values.join('_')}`)
    .join('.')
}

/** The queue arguments seneca-amqp-transport declares a listener queue with; they must match. */
function listenQueueOptions(n: SenecaNames) {
  return { durable: true, arguments: { 'x-dead-letter-exchange': n.dlx, 'x-message-ttl': 60_000 } }
}

const JSON_TYPE = 'application/json'

/** Writes requests and reads replies in Seneca's format. `origin` names this client. */
export function senecaCodec(origin: string): RequestCodec {
  return {
    encode(e: Envelope, maxBodyBytes: number): Outgoing {
      const now = Date.now()
      const act: Message = { ...e.msg }
      if (e.meta.deadline !== undefined) act.timeout$ = Math.max(1, e.meta.deadline - now)
      const body = Buffer.from(
        JSON.stringify({
          id: `${e.meta.id}/${e.meta.trace}`,
          kind: 'act',
          origin,
          track: [origin],
          time: { client_sent: now },
          act,
          sync: true,
        }),
      )
      if (body.length > maxBodyBytes) {
        throw new StoaError('PAYLOAD_TOO_LARGE', `the message is ${body.length} bytes; the limit is ${maxBodyBytes}`)
      }
      const props: Outgoing['props'] = { contentType: JSON_TYPE }
      if (act.timeout$ !== undefined) props.expiration = String(act.timeout$)
      return { body, props }
    },
    decode(m: ConsumeMessage): Reply {
      let data: Record<string, unknown>
      try {
        data = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>
      } catch {
        return errorReply(new StoaError('ACTION_FAILED', 'the Seneca reply is not valid JSON'))
      }
      if (data === null || typeof data !== 'object' || data.kind !== 'res') {
        return errorReply(new StoaError('ACTION_FAILED', 'the Seneca reply is not a response'))
      }
      const error = data.error as Record<string, unknown> | undefined
      if (error !== undefined && error !== null) {
        // A stoa service answers with its own codes; anything else is Seneca's own failure,
        // whose message may carry internals, so only its code is kept.
        if (isErrorCode(error.code) && typeof error.message === 'string') {
          return errorReply(StoaError.fromJSON({ code: error.code, message: error.message, details: error.details }))
        }
        return errorReply(
          new StoaError('ACTION_FAILED', 'the Seneca action failed', { code: String(error.code ?? 'unknown') }),
        )
      }
      return { ok: true, out: data.res }
    },
  }
}

/** The client of the Seneca mode: an act goes out with the routing key of the pin it matches. */
export function createSenecaClient(rpc: RpcCaller, n: SenecaNames, pins: readonly Pattern[]): TransportClient {
  const routes = pins.map((pin) => ({ pin, key: senecaTopic(pin) }))
  return {
    deliver(e) {
      // Seneca has no events: none of its services subscribes, so an event is simply not wanted
      // there, as on a topic exchange with no binding. A task cannot be placed: NOT_FOUND lets
      // the kernel offer it to the service's other clients.
      if (e.kind === 'emit') return Promise.resolve({ ok: true, out: undefined })
      if (e.kind === 'send') {
        return Promise.resolve(
          errorReply(
            new StoaError('NOT_FOUND', 'the seneca-amqp-transport mode carries acts only, no tasks', { task: e.name }),
          ),
        )
      }
      const route = routes.find((r) => matchesPattern(r.pin, e.msg))
      if (route === undefined)
        return Promise.resolve(errorReply(new StoaError('NOT_FOUND', 'no pin of this client matches the message')))
      return rpc.call(n.exchange, route.key, e)
    },
  }
}

/**
 * The listener of the Seneca mode: one queue named after the pins, as a Seneca listener with
 * the same pins would declare it, so Seneca and stoa instances can even share it.
 */
export class SenecaListener implements LinkUser {
  private ch: Channel | undefined
  private tag: string | undefined
  private readonly inflight = new Set<Promise<void>>()
  private stopping = false
  private readonly id = `stoa/${randomUUID()}`

  constructor(
    private readonly link: Link,
    private readonly host: TransportHost,
    private readonly pins: readonly Pattern[],
    private readonly options: ResolvedAmqpOptions,
    private readonly names: SenecaNames,
  ) {
    if (pins.length === 0) {
      throw new StoaError('INVALID_OPTIONS', 'amqp transport: the seneca mode listens on pins; pass them to listen()', {
        transport: 'amqp',
        fields: ['seneca'],
      })
    }
  }

  async up(model: ChannelModel): Promise<void> {
    if (this.stopping) return
    const { names: n, host } = this
    const ch = await openChannel(model.createChannel(), this.link, host.log, 'seneca consumer', (closed) => {
      if (this.ch !== closed) return false
      this.ch = undefined
      return !this.stopping
    })
    await ch.prefetch(this.options.prefetch)
    await ch.assertExchange(n.exchange, 'topic', { durable: true, autoDelete: false })
    await ch.assertExchange(n.dlx, 'topic', { durable: true, autoDelete: false })
    await ch.assertQueue(n.dlq)
    await ch.bindQueue(n.dlq, n.dlx, '#')
    const queue = n.listenQueue(this.pins)
    await ch.assertQueue(queue, listenQueueOptions(n))
    for (const key of new Set(this.pins.map(senecaTopic))) await ch.bindQueue(queue, n.exchange, key)
    this.ch = ch
    const { consumerTag } = await ch.consume(queue, (m) => {
      if (m === null) return void (this.stopping || this.link.restart('seneca consumer cancelled by the broker'))
      const p = this.request(ch, m)
      this.inflight.add(p)
      void p.finally(() => this.inflight.delete(p))
    })
    this.tag = consumerTag
  }

  down(): void {
    this.ch = undefined
    this.tag = undefined
  }

  /** Cancels the consumer for good; the requests in hand are still answered. */
  async stopAccepting(): Promise<void> {
    this.stopping = true
    await this.pause()
  }

  /** Stops consuming, answers the requests in hand (up to `graceMs`), releases the channel. */
  async close(): Promise<void> {
    await this.stopAccepting()
    if (this.inflight.size > 0) await settleWithin(Promise.allSettled([...this.inflight]), this.options.graceMs)
    const ch = this.ch
    this.ch = undefined
    if (ch !== undefined) await ch.close().catch(() => undefined)
  }

  private async pause(): Promise<void> {
    const { ch, tag } = this
    this.tag = undefined
    if (ch !== undefined && tag !== undefined) await ch.cancel(tag).catch(() => undefined)
  }

  private async request(ch: Channel, m: ConsumeMessage): Promise<void> {
    const replyTo = m.properties.replyTo as string | undefined
    let data: Record<string, unknown> | undefined
    try {
      data = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>
    } catch {
      data = undefined
    }
    if (data === null || typeof data !== 'object' || replyTo === undefined || replyTo === '') {
      // Nowhere to answer or nothing to run: to the dead-letter exchange, as Seneca does.
      return settleDelivery(ch, m, 'reject')
    }
    const reply = await this.run(data)
    if (!reply.ok && reply.error.code === 'CLOSED' && this.host.closing) {
      void this.pause()
      return settleDelivery(ch, m, 'requeue')
    }
    const now = Date.now()
    const time = { ...(data.time as object | undefined), listen_recv: now, listen_sent: now }
    const res: Record<string, unknown> = {
      id: data.id,
      kind: 'res',
      origin: data.origin,
      accept: this.id,
      track: data.track,
      time,
      sync: data.sync ?? true,
    }
    if (reply.ok) res.res = reply.out
    else res.error = { ...reply.error, name: 'StoaError' }
    let body: Buffer
    try {
      body = Buffer.from(JSON.stringify(res))
    } catch (err) {
      // A result JSON cannot hold (a BigInt, a cycle) is the action's failure, answered as one.
      delete res.res
      res.error = { ...unwritableResult(err).toJSON(), name: 'StoaError' }
      body = Buffer.from(JSON.stringify(res))
    }
    try {
      ch.sendToQueue(replyTo, body, {
        correlationId: m.properties.correlationId as string | undefined,
        contentType: JSON_TYPE,
      })
    } catch {
      return // the channel is gone; the request returns to the queue with it
    }
    settleDelivery(ch, m, 'ack')
  }

  private run(data: Record<string, unknown>): Promise<Reply> {
    try {
      if (data.kind !== 'act' || data.act === null || typeof data.act !== 'object') {
        throw new StoaError('INVALID_MESSAGE', 'a Seneca request needs kind "act" and an act object')
      }
      const msg: Message = {}
      let timeout: number | undefined
      for (const [k, v] of Object.entries(data.act as Message)) {
        // `$` keys are Seneca's metadata, never part of a stoa message.
        if (k.endsWith('$')) {
          if (k === 'timeout$' && typeof v === 'number' && v > 0) timeout = v
        } else msg[k] = v
      }
      const id = typeof data.id === 'string' ? data.id : randomUUID()
      const slash = id.indexOf('/')
      return this.host.dispatch({
        kind: 'act',
        msg,
        meta: {
          id,
          trace: slash >= 0 ? id.slice(slash + 1) : id,
          deadline: timeout === undefined ? undefined : Date.now() + timeout,
          caller: 'seneca',
        },
      })
    } catch (err) {
      return Promise.resolve(errorReply(toStoaError(err)))
    }
  }
}

function settleDelivery(ch: Channel, m: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): void {
  try {
    if (how === 'ack') ch.ack(m)
    else ch.nack(m, false, how === 'requeue')
  } catch {
    // The channel closed: the broker requeues the delivery itself.
  }
}
