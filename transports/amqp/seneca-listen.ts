import { randomUUID } from 'node:crypto'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { Pattern, Reply, TransportHost } from '../../actions/transport.js'
import { errorReply, StoaError, settleWithin, toStoaError } from '../../actions/transport.js'
import type { Link, LinkUser } from './connection.js'
import { openChannel } from './connection.js'
import type { ResolvedAmqpOptions } from './options.js'
import type { SenecaNames } from './seneca-wire.js'
import {
  JSON_TYPE,
  readSenecaRequest,
  senecaListenQueueOptions,
  senecaReplyBody,
  senecaRequestEnvelope,
  senecaTopic,
} from './seneca-wire.js'

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
    await ch.assertQueue(queue, senecaListenQueueOptions(n))
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
    const data = readSenecaRequest(m.content)
    if (data === undefined || replyTo === undefined || replyTo === '') {
      // Nowhere to answer or nothing to run: to the dead-letter exchange, as Seneca does.
      return settleDelivery(ch, m, 'reject')
    }
    const reply = await this.run(data)
    if (!reply.ok && reply.error.code === 'CLOSED' && this.host.closing) {
      void this.pause()
      return settleDelivery(ch, m, 'requeue')
    }
    try {
      ch.sendToQueue(replyTo, senecaReplyBody(data, reply, this.id), {
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
      return this.host.dispatch(senecaRequestEnvelope(data, this.host.clock.now()))
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
