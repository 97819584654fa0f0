/**
 * The rate-limit plugin: token-bucket budgets per identity, per client address or per route,
 * as an inbound hook, so a call is limited the same whichever transport brought it (a web
 * route, a WebSocket act, the HTTP transport). Over budget a call is refused with
 * `RATE_LIMITED` before it runs (HTTP 429 with `Retry-After`). Counted by rate-limiter-flexible.
 *
 * @module stoa/ratelimit
 */
import type { Context } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import { requirePeer } from '../../actions/transport.js'
import { rateLimitOptions } from './options.js'

export type { RateLimitOptions } from './options.js'

type Flexible = typeof import('rate-limiter-flexible')

/**
 * The rate-limit plugin. Load it before jwt to refuse a flood before any token is verified
 * (then `by: 'identity'` counts by token), or after it to count by the verified `sub`.
 *
 * @example
 * const stoa = createStoa({ name: 'vote' }).use(ratelimit, {
 *   limits: {
 *     'role:vote,cmd:cast': { points: 10, durationSec: 60, by: 'identity' },
 *     'role:auth,cmd:login': { points: 5, durationSec: 60, by: 'address' },
 *   },
 * })
 */
const ratelimit = definePlugin({
  name: 'ratelimit',
  options: rateLimitOptions,
  setup: (options) => {
    const limits = new Map(Object.entries(options.limits).map(([p, l]) => [patternString(toPattern(p)), l]))
    const flexible = limits.size === 0 ? undefined : requirePeer<Flexible>('rate-limiter-flexible', 'stoa/ratelimit')
    return {
      hooks: {
        inbound: (next, action) => {
          const limit = limits.get(action.key)
          if (limit === undefined || flexible === undefined) return next
          const limiter = new flexible.RateLimiterMemory({ points: limit.points, duration: limit.durationSec })
          return (msg, ctx) =>
            limiter.consume(keyOf(limit.by, ctx)).then(
              () => next(msg, ctx),
              (res: unknown) => {
                if (res instanceof Error) throw res
                const ms = (res as { msBeforeNext?: number }).msBeforeNext ?? limit.durationSec * 1000
                throw new StoaError(
                  'RATE_LIMITED',
                  `over the limit of ${limit.points} calls per ${limit.durationSec} s`,
                  {
                    retryAfterMs: Math.max(1, Math.ceil(ms)),
                    limit: limit.points,
                    windowSec: limit.durationSec,
                  },
                )
              },
            )
        },
      },
    }
  },
})

/** Whose budget a call spends. */
function keyOf(by: 'identity' | 'address' | 'route', ctx: Context): string {
  if (by === 'route') return 'route'
  const address = `a:${(ctx.headers?.['x-forwarded-for'] ?? 'unknown').split(',')[0]!.trim()}`
  if (by === 'address') return address
  const sub = (ctx.identity as { sub?: unknown } | undefined)?.sub
  if (typeof sub === 'string') return `s:${sub}`
  return ctx.token !== undefined ? `t:${ctx.token}` : address
}

export default ratelimit
