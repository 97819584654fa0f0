/**
 * The circuit breaker plugin: an outbound hook that watches the calls leaving through each
 * client transport, per target, and cuts a target off after repeated `UNAVAILABLE` or
 * `TIMEOUT`, so callers fail at once instead of each waiting for its own timeout, and the
 * target is not hammered while it recovers. Built on cockatiel's breaker.
 *
 * @module stoa/breaker
 */
import type { CircuitBreakerPolicy } from 'cockatiel'
import type { Clock, Deliver, RemoteTarget } from '../../actions/index.js'
import { definePlugin, StoaError } from '../../actions/index.js'
import type { Envelope, Reply } from '../../actions/transport.js'
import { loadPeer, taskService } from '../../actions/transport.js'
import { breakerOptions } from './options.js'

export type { BreakerOptions } from './options.js'

/** The state of one target's breaker, as `details.breaker` of its refusals tells it. */
export type BreakerState = 'closed' | 'open' | 'half-open'

type Cockatiel = typeof import('cockatiel')

/** The failures a breaker counts: the target is gone or does not answer. Others are answers. */
const COUNTED: ReadonlySet<string> = new Set(['UNAVAILABLE', 'TIMEOUT'])

/** What a breaker counts as a failure, as cockatiel's policy wants it said. */
function counted(cockatiel: Cockatiel): Parameters<Cockatiel['circuitBreaker']>[0] {
  return cockatiel.handleWhenResult((r) => {
    const reply = r as Reply
    return !reply.ok && COUNTED.has(reply.error.code)
  })
}

/**
 * The breaker plugin. Each client transport gets one breaker per target it reaches: the
 * service its acts go to, each service its tasks go to, and its events. After `failures`
 * consecutive `UNAVAILABLE`/`TIMEOUT` replies the breaker opens: calls to that target fail at
 * once with `UNAVAILABLE` (`details.breaker: 'open'`, `retryAfterMs`: HTTP 503 with
 * `Retry-After`). After `halfOpenAfterMs` one call goes through as a probe: its success closes
 * the breaker, its failure opens it again. Other errors (`NOT_FOUND`, `INVALID_MESSAGE`, an
 * action's own failure) are answers from a live target and leave the breaker alone.
 *
 * @example
 * const gateway = createStoa({ name: 'gateway' })
 *   .use(breaker, { failures: 5, halfOpenAfterMs: 10_000 })
 *   .client(createHttpTransport({ url: 'http://tally:3000' }), ['role:tally'])
 */
const breaker = definePlugin({
  name: 'breaker',
  options: breakerOptions,
  setup: (options, host) => {
    // cockatiel, loaded when the plugin starts; calls are only made after that.
    let cockatiel: Cockatiel | undefined
    return {
      init: async () => {
        cockatiel = await loadPeer<Cockatiel>('cockatiel', 'stoa/breaker')
      },
      hooks: {
        outbound: (next: Deliver, target: RemoteTarget): Deliver => {
          const breakers = new Map<string, Breaker>()
          const breakerOf = (key: string, c: Cockatiel): Breaker => {
            let b = breakers.get(key)
            if (b === undefined) {
              b = new Breaker(c, host.clock, `${target.transport} ${key}`, options.failures, options.halfOpenAfterMs)
              breakers.set(key, b)
            }
            return b
          }
          return (envelope, ctx) =>
            cockatiel === undefined
              ? next(envelope, ctx)
              : breakerOf(targetOf(envelope), cockatiel).call(() => next(envelope, ctx))
        },
      },
    }
  },
})

/** The target of an envelope within one client: its acts' service, a task's service, or events. */
function targetOf(e: Envelope): string {
  if (e.kind === 'send') return `task ${taskService(e.name ?? '')}`
  if (e.kind === 'emit') return 'events'
  return 'acts'
}

/**
 * How long an open breaker stays open, on the instance's clock. cockatiel reads `Date.now()`
 * itself and holds the breaker open while the time since it opened is under the backoff's
 * `duration`; this backoff answers that question by the instance's clock instead (an infinite
 * duration while the wait is not over, none once it is), so under a virtual clock the breaker
 * half-opens when the test moves time, and on the process's clock exactly as before.
 */
class OpenFor {
  constructor(
    private readonly clock: Clock,
    private readonly ms: number,
    private readonly since: number,
  ) {}

  get duration(): number {
    return this.clock.now() - this.since < this.ms ? Number.POSITIVE_INFINITY : 0
  }

  /** Opened again (its probe failed): the same wait, from now. */
  next(): OpenFor {
    return new OpenFor(this.clock, this.ms, this.clock.now())
  }
}

/** One target's breaker: cockatiel's policy, plus when it opened, for `Retry-After`. */
class Breaker {
  private readonly policy: CircuitBreakerPolicy
  private readonly cockatiel: Cockatiel
  private openedAt = 0

  constructor(
    cockatiel: Cockatiel,
    private readonly clock: Clock,
    private readonly name: string,
    failures: number,
    private readonly halfOpenAfterMs: number,
  ) {
    this.cockatiel = cockatiel
    this.policy = cockatiel.circuitBreaker(counted(cockatiel), {
      // cockatiel asks the factory for a backoff at the moment the breaker opens.
      halfOpenAfter: { next: () => new OpenFor(clock, halfOpenAfterMs, clock.now()) },
      breaker: new cockatiel.ConsecutiveBreaker(failures),
    })
    this.policy.onBreak(() => {
      this.openedAt = clock.now()
    })
  }

  get state(): BreakerState {
    const s = this.policy.state
    const { CircuitState } = this.cockatiel
    return s === CircuitState.Closed ? 'closed' : s === CircuitState.HalfOpen ? 'half-open' : 'open'
  }

  call(deliver: () => Promise<Reply>): Promise<Reply> {
    return this.policy.execute(deliver).catch((err: unknown) => {
      if (!(err instanceof this.cockatiel.BrokenCircuitError)) throw err
      // Open, or half-open with its one probe already out: refuse at once.
      const retryAfterMs = Math.max(0, this.openedAt + this.halfOpenAfterMs - this.clock.now())
      return {
        ok: false as const,
        error: new StoaError(
          'UNAVAILABLE',
          `${this.name} is cut off after repeated failures; retrying in ${retryAfterMs} ms`,
          {
            breaker: this.state,
            retryAfterMs,
          },
        ).toJSON(),
      }
    })
  }
}

export default breaker
