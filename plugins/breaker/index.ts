/**
 * The circuit breaker plugin: an outbound hook that watches the calls leaving through each
 * client transport, per target, and cuts a target off after repeated `UNAVAILABLE` or
 * `TIMEOUT`, so callers fail at once instead of each waiting for its own timeout, and the
 * target is not hammered while it recovers. Built on cockatiel's breaker.
 *
 * @module stoa/breaker
 */
import type { CircuitBreakerPolicy } from 'cockatiel'
import type { Deliver, RemoteTarget } from '../../actions/index.js'
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
  setup: (options) => {
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
              b = new Breaker(c, `${target.transport} ${key}`, options.failures, options.halfOpenAfterMs)
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

/** One target's breaker: cockatiel's policy, plus when it opened, for `Retry-After`. */
class Breaker {
  private readonly policy: CircuitBreakerPolicy
  private readonly cockatiel: Cockatiel
  private openedAt = 0

  constructor(
    cockatiel: Cockatiel,
    private readonly name: string,
    failures: number,
    private readonly halfOpenAfterMs: number,
  ) {
    this.cockatiel = cockatiel
    this.policy = cockatiel.circuitBreaker(counted(cockatiel), {
      halfOpenAfter: halfOpenAfterMs,
      breaker: new cockatiel.ConsecutiveBreaker(failures),
    })
    this.policy.onBreak(() => {
      this.openedAt = Date.now()
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
      const retryAfterMs = Math.max(0, this.openedAt + this.halfOpenAfterMs - Date.now())
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
