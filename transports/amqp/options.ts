import { z } from 'zod'
import { resolveTransportOptions, StoaError } from '../../actions/transport.js'

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]*(?:\.[a-zA-Z0-9_-]+)*$/

/**
 * The options of the AMQP transport, with their defaults. Every default is the safe one:
 * persistent messages, publisher confirms, manual acks, bounded prefetch, retries with
 * backoff, then the dead-letter queue.
 */
export const amqpOptions = z.strictObject({
  /**
   * Broker URL, or several (a list, or one string with commas: `amqp://h1,amqp://h2`), the nodes
   * of one RabbitMQ cluster: the transport connects to the first reachable one and, on losing it,
   * to the next. `STOA_AMQP_URL` when not given.
   */
  url: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .default('amqp://127.0.0.1:5672')
    .transform((v, ctx) => {
      const list = (Array.isArray(v) ? v : [v]).flatMap((u) => u.split(',')).map((u) => u.trim())
      if (list.some((u) => !/^amqps?:\/\/./.test(u))) {
        ctx.addIssue({ code: 'custom', message: 'every broker address must be an amqp:// or amqps:// URL' })
        return z.NEVER
      }
      return list
    }),
  /** The service whose RPC queue this client's acts go to; needed only to call acts. */
  target: z.string().regex(NAME).optional(),
  /**
   * First segment of every exchange and queue name, so several systems share one broker.
   * Default `stoa`, or `seneca` in the seneca mode (seneca-amqp-transport's own names).
   */
  prefix: z.string().regex(NAME).default('stoa'),
  /** Unacknowledged deliveries per consumer: bounds the work one instance holds at once. */
  prefetch: z.number().int().min(1).max(65535).default(100),
  /** Tries of a task or event before it goes to the dead-letter queue (1: no retry). */
  attempts: z.number().int().min(1).max(50).default(5),
  /** Delay before the first retry, ms; each further retry waits twice as long. */
  backoffMs: z.number().int().min(1).default(1000),
  /** Longest delay between two tries, ms. */
  maxBackoffMs: z.number().int().min(1).default(60_000),
  /**
   * Durable queues (tasks, events, delays, dead letters) as `classic` queues, or replicated
   * `quorum` queues for a RabbitMQ cluster. Every instance under one `prefix` must agree.
   */
  queueType: z.enum(['classic', 'quorum']).default('classic'),
  /**
   * Quorum queues only: times the broker may hand a task or event out again after a consumer
   * lost it unacknowledged (a crash) or gave it back (closing, held intake, a bulkhead) before
   * the broker dead-letters it itself. Failed tries are counted apart (`attempts`).
   */
  deliveryLimit: z.number().int().min(1).max(1000).default(20),
  /** Publishes held while the broker is unreachable; beyond it they fail with `UNAVAILABLE`. */
  bufferSize: z.number().int().min(0).default(1000),
  /**
   * Longest a task or event publish waits for the broker, ms: held in the buffer while the
   * connection is down, then for the broker's confirm. Past it, or past the call's deadline when
   * that comes first, the send fails with `UNAVAILABLE` (the message may or may not be queued;
   * a send that resolved always was confirmed). 2 s: a gateway answers 503 while its client can
   * still retry elsewhere, rather than holding it for the whole outage.
   */
  publishWaitMs: z.number().int().min(1).default(2000),
  /** First reconnect delay, ms; it doubles up to `reconnectMaxMs`. */
  reconnectMinMs: z.number().int().min(1).default(100),
  /** Longest wait between two reconnect attempts, ms. */
  reconnectMaxMs: z.number().int().min(1).default(5000),
  /** Largest message body accepted or sent, bytes; larger ones are refused (`PAYLOAD_TOO_LARGE`). */
  maxBodyBytes: z
    .number()
    .int()
    .min(1)
    .default(1024 * 1024),
  /** How long `close()` waits for in-flight deliveries to be answered and acknowledged, ms. */
  graceMs: z.number().int().min(0).default(10_000),
  /** Name shown for this connection in the RabbitMQ management UI and `rabbitmqctl`. */
  connectionName: z.string().optional(),
  /**
   * Speak seneca-amqp-transport's wire format instead of stoa's, so Seneca services using it
   * can call stoa actions and be called by them. Acts only: Seneca has no tasks or events.
   */
  seneca: z.boolean().default(false),
  /**
   * Told of what the transport does that no call returns: deliveries received, retried and
   * dead-lettered, reconnections, publish confirms waited on, besides the plugins observing the
   * instance's transports (which are told without it).
   */
  observer: z.custom<AmqpObserver>((v) => v !== null && typeof v === 'object', 'must be an observer object').optional(),
})

/**
 * What the AMQP transport reports as it works, each method optional. Calls are synchronous
 * and must not throw; `kind` is the envelope's (`act`, `send` for tasks, `emit` for events).
 */
export interface AmqpObserver {
  /** A delivery was taken from a queue (before it runs). */
  received?(kind: 'act' | 'send' | 'emit'): void
  /** A failed task or event was sent to wait for its next try (`attempt` tries made). */
  retried?(kind: 'send' | 'emit', attempt: number): void
  /** A task or event went to the dead-letter queue, with the code of its last failure. */
  deadLettered?(kind: 'send' | 'emit', code: string): void
  /** The connection was opened again after it was lost. */
  reconnected?(): void
  /** The broker confirmed (or refused) a publish after `waitedMs`. */
  confirmed?(waitedMs: number, ok: boolean): void
}

/** What `createAmqpTransport` accepts: every field but `url` may be left out. */
export type AmqpOptions = z.input<typeof amqpOptions>

/** The options once validated and completed with defaults. */
export type ResolvedAmqpOptions = Readonly<z.output<typeof amqpOptions>>

/**
 * The environment fallbacks, read here and nowhere else: `STOA_AMQP_URL` supplies `url` when
 * the caller gives none.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): Partial<AmqpOptions> {
  const url = env.STOA_AMQP_URL
  return url === undefined || url === '' ? {} : { url }
}

/**
 * Validates options, fills in defaults and environment fallbacks, and freezes the result.
 * Throws `INVALID_OPTIONS` naming the faulty option.
 */
export function resolveAmqpOptions(input: AmqpOptions | undefined): ResolvedAmqpOptions {
  const given = stripUndefined(input ?? {})
  if (given.seneca === true && given.prefix === undefined) given.prefix = 'seneca'
  const resolved = resolveTransportOptions('amqp', amqpOptions, { ...fromEnvironment(), ...given })
  if (resolved.maxBackoffMs < resolved.backoffMs) {
    throw new StoaError('INVALID_OPTIONS', 'amqp transport: option "maxBackoffMs" must be at least "backoffMs"', {
      transport: 'amqp',
      fields: ['maxBackoffMs'],
    })
  }
  return resolved
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
