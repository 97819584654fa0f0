import type { Channel, Options } from 'amqplib'
import { HEADERS } from './wire.js'

/**
 * The exchanges, queues and routing keys of the AMQP transport. Every name starts with the
 * `prefix` option (default `stoa`, written `P` here), so several systems or test runs share one
 * broker without meeting.
 *
 * | name | type | holds | routing |
 * | --- | --- | --- | --- |
 * | `P.rpc.<service>` | queue, classic, non-durable | requests (acts) for the service | default exchange, key = queue name; replies go to RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`) |
 * | `P.tasks.<service>` | queue, durable, classic or quorum | tasks `<service>.<entity>.<request>`; the instances of the service compete for them | default exchange, key = queue name; declared by senders too, so no task is published into nowhere |
 * | `P.events` | exchange, topic, durable | every event | routing key = event name `<entity>.<verb>` |
 * | `P.events.<service>` | queue, durable, classic or quorum | the events one service subscribed to, once per service whatever its instance count | bound to `P.events` with each subscription (`address.*`; a partial segment such as `user.auth*` binds `user.*` and is filtered on receipt) |
 * | `P.instance.<service>.<id>` | queue, exclusive, auto-delete, non-durable, at most `INSTANCE_QUEUE_MAX` messages (oldest dropped) | the events one instance subscribed to with `{ each: 'instance' }`: every instance has its own | bound to `P.events` like the service's event queue; gone with its connection, declared again on reconnect; never retried nor dead-lettered (at most once) |
 * | `P.retry` | exchange, headers, durable | tasks and events waiting for their next try | matches the `stoa-delay` header; routing key = the queue to return to |
 * | `P.retry.<ms>` | queue, durable, classic or quorum | messages waiting `<ms>` (one queue per backoff step, so a long delay never holds up a short one) | `x-message-ttl` = `<ms>`, then dead-lettered to the default exchange with their routing key, i.e. back to their queue |
 * | `P.dlq.<service>` | queue, durable, classic or quorum | tasks and events that failed every try, or could never run (poison), with `x-stoa-error-code`, `x-stoa-error-message`, `x-stoa-attempts`, `x-stoa-queue` | default exchange, key = queue name |
 *
 * Subscriptions removed from a service's code stay bound until the binding is removed by hand
 * (`rabbitmqctl` or the management UI); events arriving through them are acknowledged and ignored.
 */
export interface Names {
  readonly rpc: (service: string) => string
  readonly tasks: (service: string) => string
  readonly events: string
  readonly eventQueue: (service: string) => string
  readonly instanceQueue: (service: string, id: string) => string
  readonly retry: string
  readonly retryQueue: (delayMs: number) => string
  readonly dlq: (service: string) => string
}

/** The names derived from one prefix. */
export function names(prefix: string): Names {
  return {
    rpc: (service) => `${prefix}.rpc.${service}`,
    tasks: (service) => `${prefix}.tasks.${service}`,
    events: `${prefix}.events`,
    eventQueue: (service) => `${prefix}.events.${service}`,
    instanceQueue: (service, id) => `${prefix}.instance.${service}.${id}`,
    retry: `${prefix}.retry`,
    retryQueue: (delayMs) => `${prefix}.retry.${delayMs}`,
    dlq: (service) => `${prefix}.dlq.${service}`,
  }
}

/** How durable queues are declared; every instance under one prefix must declare them alike. */
export interface QueueSettings {
  readonly queueType: 'classic' | 'quorum'
  /**
   * Quorum queues only: how many times the broker hands a message out again (a consumer lost
   * with it unacknowledged, or a requeue) before it dead-letters the message itself.
   */
  readonly deliveryLimit: number
}

/**
 * The arguments of a quorum queue whose dead letters must not be lost: at-least-once
 * dead-lettering (the source keeps a message until the target confirmed it), which RabbitMQ only
 * does with `reject-publish` overflow (https://www.rabbitmq.com/docs/quorum-queues#dead-lettering).
 */
const SAFE_DEAD_LETTERS = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } as const

/**
 * A task or event queue. Classic: durable, nothing else. Quorum: replicated, with a delivery
 * limit whose excess the broker dead-letters to the service's dead-letter queue (at least once),
 * so a message that kills every consumer it reaches (a crash, not an error) stops there instead
 * of looping forever. Stoa's own tries are counted apart, in the `x-stoa-attempt` header.
 */
function workQueue(n: Names, s: QueueSettings, service: string): Options.AssertQueue {
  if (s.queueType !== 'quorum') return { durable: true }
  return {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': s.deliveryLimit,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': n.dlq(service),
      ...SAFE_DEAD_LETTERS,
    },
  }
}

/**
 * The routing key an event subscription binds with. AMQP topics match whole segments only, so
 * `user.auth*` binds `user.*` and the kernel filters what arrives.
 */
export function bindingKey(subscription: string): string {
  return subscription
    .split('.')
    .map((part) => (part.includes('*') ? '*' : part))
    .join('.')
}

/** Declares the RPC queue of a service. */
export async function declareRpc(ch: Channel, n: Names, service: string): Promise<string> {
  const q = n.rpc(service)
  // Requests are worthless once their caller stopped waiting and are never persisted, so the
  // queue need not survive a broker restart; it is re-declared on every reconnect.
  await ch.assertQueue(q, { durable: false })
  return q
}

/** Declares the task queue of a service. Senders and listeners both call it. */
export async function declareTasks(ch: Channel, n: Names, s: QueueSettings, service: string): Promise<string> {
  const q = n.tasks(service)
  await ch.assertQueue(q, workQueue(n, s, service))
  return q
}

/** Declares the events exchange. */
export async function declareEvents(ch: Channel, n: Names): Promise<string> {
  await ch.assertExchange(n.events, 'topic', { durable: true })
  return n.events
}

/** Declares a service's event queue and binds each subscription. */
export async function declareEventQueue(
  ch: Channel,
  n: Names,
  s: QueueSettings,
  service: string,
  subscriptions: readonly string[],
): Promise<string> {
  await declareEvents(ch, n)
  const q = n.eventQueue(service)
  await ch.assertQueue(q, workQueue(n, s, service))
  for (const key of new Set(subscriptions.map(bindingKey))) await ch.bindQueue(q, n.events, key)
  return q
}

/**
 * The most events an instance queue holds: an instance that falls this far behind loses the
 * oldest, as at-most-once delivery allows, rather than filling the broker.
 */
export const INSTANCE_QUEUE_MAX = 10_000

/**
 * Declares one instance's own event queue and binds each of its `{ each: 'instance' }`
 * subscriptions. Exclusive to this connection and auto-deleted, so the broker removes it when
 * the instance stops or its connection drops (then it is declared again on reconnect, and what
 * was published meanwhile is missed: at most once).
 */
export async function declareInstanceQueue(
  ch: Channel,
  n: Names,
  service: string,
  id: string,
  subscriptions: readonly string[],
): Promise<string> {
  await declareEvents(ch, n)
  const q = n.instanceQueue(service, id)
  await ch.assertQueue(q, {
    exclusive: true,
    autoDelete: true,
    durable: false,
    arguments: { 'x-max-length': INSTANCE_QUEUE_MAX, 'x-overflow': 'drop-head' },
  })
  for (const key of new Set(subscriptions.map(bindingKey))) await ch.bindQueue(q, n.events, key)
  return q
}

/**
 * Declares the retry exchange and one delay queue per backoff step: quorum queues when work
 * queues are, since a copy waiting here is the only one left (its original was acknowledged).
 */
export async function declareRetry(
  ch: Channel,
  n: Names,
  s: Pick<QueueSettings, 'queueType'>,
  delays: readonly number[],
): Promise<void> {
  await ch.assertExchange(n.retry, 'headers', { durable: true })
  for (const ms of new Set(delays)) {
    const q = n.retryQueue(ms)
    // No dead-letter routing key: an expired copy keeps the key it was published with, which
    // is the name of the queue it came from, and the default exchange delivers it there.
    await ch.assertQueue(
      q,
      s.queueType === 'quorum'
        ? {
            durable: true,
            messageTtl: ms,
            deadLetterExchange: '',
            arguments: { 'x-queue-type': 'quorum', ...SAFE_DEAD_LETTERS },
          }
        : { durable: true, messageTtl: ms, deadLetterExchange: '' },
    )
    await ch.bindQueue(q, n.retry, '', { 'x-match': 'all', [HEADERS.delay]: String(ms) })
  }
}

/** Declares a service's dead-letter queue: a quorum queue when work queues are. */
export async function declareDlq(
  ch: Channel,
  n: Names,
  s: Pick<QueueSettings, 'queueType'>,
  service: string,
): Promise<string> {
  const q = n.dlq(service)
  await ch.assertQueue(
    q,
    s.queueType === 'quorum' ? { durable: true, arguments: { 'x-queue-type': 'quorum' } } : { durable: true },
  )
  return q
}
