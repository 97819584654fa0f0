import type { StoaErrorJSON } from './errors.js'
import type { Message } from './pattern.js'

/** What a message is for: a request that waits for its reply, a task, or an event. */
export type EnvelopeKind = 'act' | 'send' | 'emit'

/**
 * The response headers an edge transport's answer will carry, gathered while the call runs:
 * the web pipeline gives each request one, and hooks add to it (the rate-limit plugin's
 * `RateLimit` fields on every limited answer). Nested acts in the same process add to their
 * caller's; tasks, events and other transports' deliveries have none. An action asks for
 * headers of its own through its result's `http$` instead.
 */
export interface ResponseHeaders {
  /**
   * Adds `value` as one more member of the list field `name` (lowercase; members are sent
   * comma-separated, as RFC 9110 lists are). A name stoa sets itself (`content-type`...) or a
   * value with control characters is refused with `ACTION_FAILED`.
   */
  append(name: string, value: string): void
}

/** What travels beside a message across any transport; never mixed into the message itself. */
export interface EnvelopeMeta {
  /** This message's id. */
  id: string
  /** The id shared by every message in one chain of calls. */
  trace: string
  /** Absolute time (ms since the epoch) after which the work is worthless and is not started. */
  deadline?: number
  /** The caller's identity token (a JWT), passed on unchanged. */
  token?: string
  /** Who sent it: the sending service's name, or `cli`, `http`, ... */
  caller?: string
  /** Request headers an edge transport chose to pass on (lowercase names); not forwarded further. */
  headers?: Readonly<Record<string, string>>
  /**
   * For outbound hooks: where the edge that made the call gathers its answer's headers (a rate
   * limit's `RateLimit` fields). No wire carries it: what a remote instance limits, it answers itself.
   */
  responseHeaders?: ResponseHeaders
  /** W3C `traceparent` of the caller's span; when it is valid, `trace` is its trace id. */
  traceparent?: string
  /** W3C `tracestate` that came with `traceparent`, passed on as it is. */
  tracestate?: string
  /** The transport it arrived through (`http`, `amqp`...): set by the kernel on receipt, never sent. */
  transport?: string
}

/**
 * The transport-neutral message. For `act` the message carries the pattern's pairs; for
 * `send` and `emit` it is the data and `name` is the task or event name.
 */
export interface Envelope {
  kind: EnvelopeKind
  name?: string
  msg: Message
  meta: EnvelopeMeta
  /**
   * For an `emit`: which subscriptions it is for. Absent, the service's own (durable, each
   * service once); `instance`, the subscriptions made with `{ each: 'instance' }`, set by a
   * transport on what reached this instance alone.
   */
  each?: 'instance'
}

/**
 * Who hears an event a subscription takes: `service`, one instance of the service, durably
 * (the default); `instance`, every running instance, at most once (an instance that is down
 * misses it).
 */
export type SubscriptionEach = 'service' | 'instance'

/** The answer to an envelope: a result or an error in its wire form. */
export type Reply = { ok: true; out: unknown } | { ok: false; error: StoaErrorJSON }
