/**
 * The rate-limit plugin: budgets per identity, per client address or per route, as hooks, so a
 * call is limited the same whichever transport brought it (a web route, a WebSocket act, the
 * HTTP transport) and whether the action runs here or is reached through a client. Over budget
 * a call is refused with `RATE_LIMITED` before it runs (HTTP 429 with `Retry-After` and the
 * IETF `RateLimit` / `RateLimit-Policy` headers). Each budget is a token bucket (bursts up to its
 * size, then its refill rate), kept in memory or in Redis (ioredis) shared by every gateway.
 * See docs/web.md#rate-limits.
 *
 * @module stoa/ratelimit
 */
import { createHash } from 'node:crypto'
import type { Deliver, Identity, ResponseHeaders } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { Envelope, Pattern } from '../../actions/transport.js'
import { loadPeer, matchesPattern, rateLimitPolicy, rateLimitState } from '../../actions/transport.js'
import type { Shape, Take } from './bucket.js'
import { MemoryBuckets, SLACK_MS, shapeOf } from './bucket.js'
import type { rateLimit } from './options.js'
import { rateLimitOptions } from './options.js'
import { redisBuckets } from './redis.js'

export type { RateLimitOptions } from './options.js'

type Limit = ReturnType<typeof rateLimit.parse>
type Redis = import('ioredis').Redis

/** One limited pattern: its bucket's shape, and its buckets in this instance's memory. */
interface Budget {
  readonly key: string
  readonly pattern: Pattern
  readonly limit: Limit
  readonly shape: Shape
  /** Tokens a full bucket holds: the policy's quota. */
  readonly quota: number
  /** Seconds an empty bucket takes to fill: the policy's window. */
  readonly windowSec: number
  /** Its `RateLimit-Policy` member, the same on every answer. */
  readonly policy: string
  /** Where its callers' buckets are when Redis is not in use or does not answer. */
  readonly memory: MemoryBuckets
  /** The first part of its callers' keys in Redis: `<prefix>:<pattern>:`. */
  redisKey: string
}

/** Who is calling, as far as a budget cares. */
interface Caller {
  readonly identity?: Identity | undefined
  readonly token?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The answer's headers, where an edge (the web pipeline) answers the call. */
  readonly responseHeaders?: ResponseHeaders | undefined
}

/** Takes a token from a bucket kept in Redis; rejects when Redis does not answer. */
type RemoteTake = (key: string, shape: Shape) => Promise<Take>

/**
 * The rate-limit plugin: a token bucket per caller and limited pattern, holding `burst` calls
 * (default `points`) and refilled with `points` every `durationSec`. Load it before jwt to
 * refuse a flood before any token is verified (then `by: 'identity'` counts by token), or
 * after it to count by the verified `sub`.
 *
 * With `store: { redis: url }` every instance naming the same server and `prefix` spends one
 * budget; when Redis does not answer within `timeoutMs` a call is counted in this instance's
 * memory instead, so an outage loosens the limit to one budget per instance rather than
 * refusing every call. The memory store follows the instance's clock (`Stoa.clock`).
 *
 * @example
 * const stoa = createStoa({ name: 'vote' }).use(ratelimit, {
 *   limits: {
 *     'role:vote,cmd:cast': { points: 10, durationSec: 60, burst: 20, by: 'identity' },
 *     'role:auth,cmd:login': { points: 5, durationSec: 60, by: 'address' },
 *   },
 *   store: { redis: 'redis://127.0.0.1:6379' },
 * })
 */
const ratelimit = definePlugin({
  name: 'ratelimit',
  options: rateLimitOptions,
  setup: (options, host) => {
    const budgets = new Map<string, Budget>()
    const now = () => host.clock.now()
    for (const [text, limit] of Object.entries(options.limits)) {
      const pattern = toPattern(text)
      const key = patternString(pattern)
      const burst = limit.burst ?? limit.points
      const shape = shapeOf(limit.points, limit.durationSec, burst)
      // Whole seconds, as the field wants them: exact for the default burst.
      const windowSec = Math.max(1, Math.ceil((limit.durationSec * burst) / limit.points - 1e-9))
      budgets.set(key, {
        key,
        pattern,
        limit,
        shape,
        quota: burst,
        windowSec,
        policy: rateLimitPolicy(key, burst, windowSec),
        memory: new MemoryBuckets(shape, now),
        redisKey: '',
      })
    }
    // Remote acts are matched by their message: the most specific pattern that matches wins.
    const bySpecificity = [...budgets.values()].sort(
      (a, b) => Object.keys(b.pattern).length - Object.keys(a.pattern).length,
    )
    const store = options.store
    let remote: RemoteTake | undefined
    /**
     * Spends a token of `caller`'s bucket, or refuses with `RATE_LIMITED`: at once from memory,
     * through a promise from Redis (from memory again when Redis fails).
     */
    const spend = (budget: Budget, caller: Caller): void | Promise<void> => {
      const who = keyOf(budget.limit.by, caller)
      if (remote === undefined) return settle(budget, budget.memory.take(who), caller)
      return remote(budget.redisKey + who, budget.shape).then(
        (take) => settle(budget, take, caller),
        () => settle(budget, budget.memory.take(who), caller),
      )
    }
    return {
      init: async () => {
        if (store === 'memory' || budgets.size === 0) return
        const { Redis } = await loadPeer<typeof import('ioredis')>('ioredis', 'stoa/ratelimit')
        const client: Redis = new Redis(store.redis, {
          // A take that cannot be made now fails at once and is made in memory: no queue of
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
        for (const b of budgets.values()) b.redisKey = `${store.prefix}:${b.key}:`
        remote = redisBuckets(client, SLACK_MS)
        return async () => {
          remote = undefined
          await client.quit().catch(() => client.disconnect())
        }
      },
      hooks: {
        inbound: (next, action) => {
          const budget = budgets.get(action.key)
          if (budget === undefined) return next
          return (msg, ctx) => {
            const spent = spend(budget, ctx)
            return spent === undefined ? next(msg, ctx) : spent.then(() => next(msg, ctx))
          }
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
            let spent: void | Promise<void>
            try {
              spent = spend(budget, caller)
            } catch (err) {
              return Promise.reject(err)
            }
            return spent === undefined ? next(envelope, ctx) : spent.then(() => next(envelope, ctx))
          }
        },
      },
    }
  },
})

/**
 * A take's outcome: a refusal throws `RATE_LIMITED` with when to come back; a spent token is
 * told, where an edge answers the call, as the IETF `RateLimit-Policy` and `RateLimit` fields
 * (whole tokens left, seconds until the bucket is full again), on every answer as on the 429.
 */
function settle(budget: Budget, take: Take, caller: Caller): void {
  if (!take.ok) {
    const { limit } = budget
    throw new StoaError('RATE_LIMITED', `over the limit of ${limit.points} calls per ${limit.durationSec} s`, {
      retryAfterMs: Math.max(1, Math.ceil(take.waitMs)),
      resetMs: Math.ceil(take.fullMs),
      limit: budget.quota,
      windowSec: budget.windowSec,
      policy: budget.key,
    })
  }
  const answer = caller.responseHeaders
  if (answer === undefined) return
  answer.append('ratelimit-policy', budget.policy)
  answer.append('ratelimit', rateLimitState(budget.key, take.remaining, Math.ceil(take.fullMs / 1000)))
}

/** The budget a remote act spends: the most specific limited pattern its message matches. */
function remoteBudget(budgets: readonly Budget[], envelope: Envelope): Budget | undefined {
  for (const b of budgets) if (matchesPattern(b.pattern, envelope.msg)) return b
  return undefined
}

/** Whose budget a call spends. */
function keyOf(by: 'identity' | 'address' | 'route', caller: Caller): string {
  if (by === 'route') return 'route'
  const forwarded = caller.headers?.['x-forwarded-for'] ?? 'unknown'
  const comma = forwarded.indexOf(',')
  const address = `a:${(comma < 0 ? forwarded : forwarded.slice(0, comma)).trim()}`
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
