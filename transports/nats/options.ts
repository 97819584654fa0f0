import { z } from 'zod'
import { resolveTransportOptions, StoaError } from '../../actions/transport.js'

/** A subject token or dotted run of tokens, safe in NATS subjects and (without dots) in stream names. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/

/**
 * The options of the NATS transport, with their defaults. Every default is the safe one: tasks
 * and events on file-stored streams, publish acks awaited, explicit acks, a bounded number of
 * unacknowledged deliveries, retries with backoff, then the dead-letter stream.
 */
export const natsOptions = z.strictObject({
  /** Server URL, or several separated by commas (a cluster); `STOA_NATS_URL` when not given. */
  url: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** The service whose request subject this client's acts go to; needed only to call acts. */
  target: z.string().regex(NAME).optional(),
  /**
   * First token of every subject and stream name, so several systems share one server. Letters,
   * digits, `-` and `_` only: stream names cannot hold a dot.
   */
  prefix: z.string().regex(NAME).default('stoa'),
  /** Unacknowledged task or event deliveries a consumer may hold: bounds the work in hand. */
  prefetch: z.number().int().min(1).max(65535).default(100),
  /** Tries of a task or event before it goes to the dead-letter stream (1: no retry). */
  attempts: z.number().int().min(1).max(50).default(5),
  /** Delay before the first retry, ms; each further retry waits twice as long. */
  backoffMs: z.number().int().min(1).default(1000),
  /** Longest delay between two tries, ms. */
  maxBackoffMs: z.number().int().min(1).default(60_000),
  /**
   * How long JetStream waits for the ack of a delivery before giving it to another instance,
   * ms. While an action runs, the listener tells the server it is still working, so this
   * bounds the time a crashed instance holds a task, not how long a task may take.
   */
  ackWaitMs: z.number().int().min(1000).default(30_000),
  /**
   * How long a durable consumer may go with no instance pulling from it before the server
   * removes it, ms. A service that stopped subscribing, or stopped running, no longer holds
   * events in the event stream after this; a service down longer loses the events published
   * meanwhile (the stream keeps an event only while a consumer wants it). Default: a week.
   */
  consumerIdleMs: z
    .number()
    .int()
    .min(1000)
    .default(7 * 24 * 3600 * 1000),
  /** Copies of each stream in a JetStream cluster (1 on a single server, 3 for a cluster of three). */
  replicas: z.number().int().min(1).max(5).default(1),
  /** Largest message body accepted or sent, bytes; larger ones are refused (`PAYLOAD_TOO_LARGE`). */
  maxBodyBytes: z
    .number()
    .int()
    .min(1)
    .default(1024 * 1024),
  /** How long `close()` waits for in-flight deliveries to be answered and acknowledged, ms. */
  graceMs: z.number().int().min(0).default(10_000),
  /** How long a task or event publish waits for JetStream's ack, ms, when its deadline is further. */
  publishTimeoutMs: z.number().int().min(1).default(30_000),
  /** Wait between two reconnect attempts, ms (the client retries for ever). */
  reconnectWaitMs: z.number().int().min(1).default(250),
  /** Name shown for this connection in the server's monitoring (`/connz`). */
  connectionName: z.string().optional(),
})

/** What `createNatsTransport` accepts: every field may be left out. */
export type NatsOptions = z.input<typeof natsOptions>

/** The options once validated and completed with defaults. */
export type ResolvedNatsOptions = Readonly<z.output<typeof natsOptions>>

/**
 * The environment fallbacks, read here and nowhere else: `STOA_NATS_URL` supplies `url` when
 * the caller gives none.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): Partial<NatsOptions> {
  const url = env.STOA_NATS_URL
  return url === undefined || url === '' ? {} : { url }
}

/**
 * Validates options, fills in defaults and environment fallbacks, and freezes the result.
 * Throws `INVALID_OPTIONS` naming the faulty option.
 */
export function resolveNatsOptions(input: NatsOptions | undefined): ResolvedNatsOptions {
  const given = Object.fromEntries(Object.entries(input ?? {}).filter(([, v]) => v !== undefined))
  const resolved = resolveTransportOptions('nats', natsOptions, { ...fromEnvironment(), ...given })
  if (resolved.maxBackoffMs < resolved.backoffMs) {
    throw new StoaError('INVALID_OPTIONS', 'nats transport: option "maxBackoffMs" must be at least "backoffMs"', {
      transport: 'nats',
      fields: ['maxBackoffMs'],
    })
  }
  return resolved
}
