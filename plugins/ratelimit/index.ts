/**
 * The rate-limit plugin: budgets per identity, per client address or per route, as hooks, so a
 * call is limited the same whichever transport brought it (a web route, a WebSocket act, the
 * HTTP transport) and whether the action runs here or is reached through a client. Over budget
 * a call is refused with `RATE_LIMITED` before it runs (HTTP 429 with `Retry-After` and the
 * IETF `RateLimit` / `RateLimit-Policy` headers). Counted by rate-limiter-flexible, in memory
 * or in Redis (ioredis) shared by every gateway. See docs/web.md#rate-limits.
 *
 * @module stoa/ratelimit
 */
import { createHash } from 'node:crypto'
import type { Context, Deliver, Identity, ResponseHeaders } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { Envelope, Pattern } from '../../actions/transport.js'
import { loadPeer, matchesPattern, rateLimitPolicy, rateLimitState, requirePeer } from '../../actions/transport.js'
import type { rateLimit } from './options.js'
import { rateLimitOptions } from './options.js'

export type { RateLimitOptions } from './options.js'

type Flexible = typeof import('rate-limiter-flexible')
type Limiter = InstanceType<Flexible['RateLimiterMemory']> | InstanceType<Flexible['RateLimiterRedis']>
type Limit = ReturnType<typeof rateLimit.parse>
type Redis = import('ioredis').Redis

/** One limited pattern: its budget, and the counter (memory until a Redis store has started). */
interface Budget {
  readonly key: string
  readonly pattern: Pattern
  readonly limit: Limit
  /** Its `RateLimit-Policy` member, the same on every answer. */
  readonly policy: string
  counter: Limiter
}

/** Who is calling, as far as a budget cares. */
interface Caller {
  readonly identity?: Identity | undefined
  readonly token?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The answer's headers, where an edge (the web pipeline) answers the call. */
  readonly responseHeaders?: ResponseHeaders | undefined
}

/**
 * The rate-limit plugin. Load it before jwt to refuse a flood before any token is verified
 * (then `by: 'identity'` counts by token), or after it to count by the verified `sub`.
 *
 * With `store: { redis: url }` every instance naming the same server and `prefix` spends one
 * budget; when Redis does not answer within `timeoutMs` a call is counted in this instance's
 * memory instead, so an outage loosens the limit to one budget per instance rather than
 * refusing every call.
 *
 * @example
 * const stoa = createStoa({ name: 'vote' }).use(ratelimit, {
 *   limits: {
 *     'role:vote,cmd:cast': { points: 10, durationSec: 60, by: 'identity' },
 *     'role:auth,cmd:login': { points: 5, durationSec: 60, by: 'address' },
 *   },
 *   store: { redis: 'redis://127.0.0.1:6379' },
 * })
 */
const ratelimit = definePlugin({
  name: 'ratelimit',
  options: rateLimitOptions,
  setup: (options, host) => {
    const entries = Object.entries(options.limits)
    const flexible = entries.length === 0 ? undefined : requirePeer<Flexible>('rate-limiter-flexible', 'stoa/ratelimit')
    const budgets = new Map<string, Budget>()
    for (const [text, limit] of entries) {
      const pattern = toPattern(text)
      const key = patternString(pattern)
      const counter = new flexible!.RateLimiterMemory({ points: limit.points, duration: limit.durationSec })
      budgets.set(key, { key, pattern, limit, counter, policy: rateLimitPolicy(key, limit.points, limit.durationSec) })
    }
    // Remote acts are matched by their message: the most specific pattern that matches wins.
    const bySpecificity = [...budgets.values()].sort(
      (a, b) => Object.keys(b.pattern).length - Object.keys(a.pattern).length,
    )
    const store = options.store
    return {
      init: async () => {
        if (store === 'memory' || flexible === undefined) return
        const { Redis } = await loadPeer<typeof import('ioredis')>('ioredis', 'stoa/ratelimit')
        const client: Redis = new Redis(store.redis, {
          // A count that cannot be made now fails at once and is made in memory: no queue of
          // calls waiting for Redis to come back.
          enableOfflineQueue: false,
          commandTimeout: store.timeoutMs,
          maxRetriesPerRequest: 1,
          lazyConnect: true,
        })
        let down = false
        client.on('error', (err: Error) => {
          if (down) return
          down = true
          host.log.warn({ err: err.message }, 'rate limits counted in memory while Redis is unreachable')
        })
        client.on('ready', () => {
          if (down) host.log.info({}, 'rate limits counted in Redis again')
          down = false
        })
        await client.connect().catch((err: unknown) => {
          client.disconnect()
          throw new StoaError('UNAVAILABLE', `the rate-limit store at ${redactedUrl(store.redis)} is unreachable`, {
            cause: err instanceof Error ? err.message : String(err),
          })
        })
        for (const b of budgets.values()) {
          b.counter = new flexible.RateLimiterRedis({
            storeClient: client,
            keyPrefix: `${store.prefix}:${b.key}`,
            points: b.limit.points,
            duration: b.limit.durationSec,
            rejectIfRedisNotReady: true,
            insuranceLimiter: b.counter as InstanceType<Flexible['RateLimiterMemory']>,
          })
        }
        return async () => {
          await client.quit().catch(() => client.disconnect())
        }
      },
      hooks: {
        inbound: (next, action) => {
          const budget = budgets.get(action.key)
          if (budget === undefined) return next
          return (msg, ctx) => spend(budget, ctx).then(() => next(msg, ctx))
        },
        outbound: (next: Deliver): Deliver => {
          if (bySpecificity.length === 0) return next
          return (envelope, ctx) => {
            const budget = envelope.kind === 'act' ? remoteBudget(bySpecificity, envelope) : undefined
            if (budget === undefined) return next(envelope, ctx)
            const caller: Caller = {
              identity: ctx?.identity,
              token: envelope.meta.token,
              headers: envelope.meta.headers ?? ctx?.headers,
              responseHeaders: envelope.meta.responseHeaders ?? ctx?.responseHeaders,
            }
            return spend(budget, caller).then(() => next(envelope, ctx))
          }
        },
      },
    }
  },
})

/**
 * Spends one point of `caller`'s budget, or refuses with `RATE_LIMITED`. Where an edge answers
 * the call, its answer says where the caller stands: the IETF `RateLimit-Policy` and
 * `RateLimit` fields (calls left, seconds until the window starts again), on every answer as
 * on the 429.
 */
function spend(budget: Budget, caller: Caller | Context): Promise<void> {
  const { limit } = budget
  return budget.counter.consume(keyOf(limit.by, caller)).then(
    (res) => {
      const answer = caller.responseHeaders
      if (answer === undefined) return
      answer.append('ratelimit-policy', budget.policy)
      answer.append(
        'ratelimit',
        rateLimitState(budget.key, res.remainingPoints, Math.max(0, Math.ceil(res.msBeforeNext / 1000))),
      )
    },
    (res: unknown) => {
      if (res instanceof Error) throw res
      const ms = (res as { msBeforeNext?: number }).msBeforeNext ?? limit.durationSec * 1000
      throw new StoaError('RATE_LIMITED', `over the limit of ${limit.points} calls per ${limit.durationSec} s`, {
        retryAfterMs: Math.max(1, Math.ceil(ms)),
        limit: limit.points,
        windowSec: limit.durationSec,
        policy: budget.key,
      })
    },
  )
}

/** The budget a remote act spends: the most specific limited pattern its message matches. */
function remoteBudget(budgets: readonly Budget[], envelope: Envelope): Budget | undefined {
  for (const b of budgets) if (matchesPattern(b.pattern, envelope.msg)) return b
  return undefined
}

/** Whose budget a call spends. */
function keyOf(by: 'identity' | 'address' | 'route', caller: Caller): string {
  if (by === 'route') return 'route'
  const address = `a:${(caller.headers?.['x-forwarded-for'] ?? 'unknown').split(',')[0]!.trim()}`
  if (by === 'address') return address
  const sub = (caller.identity as { sub?: unknown } | undefined)?.sub
  if (typeof sub === 'string') return `s:${sub}`
  // A token is a credential: the key holds its digest, never the token, in memory or in Redis.
  return caller.token !== undefined ? `t:${createHash('sha256').update(caller.token).digest('base64url')}` : address
}

/** A Redis URL fit for a log or an error: without its password. */
function redactedUrl(url: string): string {
  const u = new URL(url)
  if (u.password !== '') u.password = '***'
  return u.toString()
}

export default ratelimit
