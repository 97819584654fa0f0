import type { Clock } from './deadlines.js'
import type { Envelope, Reply } from './envelope.js'
import type { Readiness } from './health.js'
import type { Logger } from './logger.js'
import type { TransportObserver } from './observe.js'
import type { Message } from './pattern.js'

/**
 * What a listening transport sees of the service it serves: its name, the envelope dispatcher,
 * and the tasks and events it handles, so the transport can declare queues for them.
 */
export interface TransportHost {
  /** The service's name: queues and consumer groups are named after it. */
  readonly service: string
  /** Runs a received envelope on the service and answers with its reply. Never rejects. */
  dispatch(envelope: Envelope): Promise<Reply>
  /**
   * Whether the instance is closing or closed. A `CLOSED` reply while this is true is the
   * kernel refusing new work, which a broker should requeue for another instance; a `CLOSED`
   * from an action at any other time is an answer like any other.
   */
  readonly closing: boolean
  /**
   * Whether intake is paused because something the service needs is down (its database, say;
   * see `Stoa.pauseIntake`). A task or event failing with a retryable code while this is true
   * failed because of that outage: a broker gives it back to its queue, not counted as a try.
   */
  readonly held: boolean
  /** Whether a local action matches this message, so this service can answer it. */
  answers(msg: Readonly<Message>): boolean
  /** The task names this service handles (`<service>.<entity>.<request>`). */
  tasks(): string[]
  /** The event subscriptions of this service; a `*` segment is a wildcard. */
  subscriptions(): string[]
  /**
   * The subscriptions every instance hears (`{ each: 'instance' }`): a transport delivers
   * matching events to this instance itself, at most once, and dispatches them with
   * `each: 'instance'`. Empty when there are none.
   */
  instanceSubscriptions(): string[]
  /** Where the transport reports what it cannot return to a caller. */
  readonly log: Logger
  /**
   * The instance's clock (`Stoa.clock`): deadlines a transport computes and the timers it sets
   * for its own waits go through it, so that under a virtual clock they follow the test's time.
   * Timers of a socket or a broker (a TCP keepalive, a queue's TTL) stay on the wall clock.
   */
  readonly clock: Clock
  /**
   * Where the transport reports what it does beyond any call (deliveries received, retried
   * and dead-lettered, reconnections, publish confirms): every plugin that observes
   * transports hears it. Its methods never throw.
   */
  readonly observer: TransportObserver
  /**
   * Whether the instance can take work now (started, not closing, every transport and
   * readiness check well), for a listener that answers an orchestrator's `/readyz`.
   */
  readiness(): Promise<Readiness>
}
