import { z } from 'zod'

/**
 * One budget: a token bucket per identity, client address or route, refilled with `points`
 * calls every `durationSec` and holding `burst` of them.
 */
export const rateLimit = z.strictObject({
  /** Calls the bucket regains every `durationSec`: the sustained rate. */
  points: z.number().int().positive(),
  /** Seconds in which the bucket regains `points` calls. */
  durationSec: z.number().int().positive(),
  /** Calls the bucket holds, so many may come at once after a quiet spell: `points` when absent. */
  burst: z.number().int().positive().optional(),
  /**
   * Whose budget a call spends: `identity` (the verified identity's `sub`, else the token, else
   * the client address), `address` (the first `x-forwarded-for` entry the web plugin passes on),
   * or `route` (one budget for every caller of the action).
   */
  by: z.enum(['identity', 'address', 'route']).default('identity'),
})

/** Budgets counted in Redis, shared by every instance that names the same server and prefix. */
export const redisStore = z.strictObject({
  /** The Redis server: `redis://127.0.0.1:6379` (`rediss://` for TLS, user and password in the URL). */
  redis: z.url({ protocol: /^rediss?$/ }),
  /** First part of every key the budgets use, so several systems can share one server. */
  prefix: z
    .string()
    .regex(/^[\w.:-]+$/, 'letters, digits and _ . : -')
    .default('stoa:ratelimit'),
  /**
   * How long a take may take before the call is counted in this instance's memory instead
   * (Redis slow or unreachable): ms.
   */
  timeoutMs: z.number().int().positive().default(200),
})

/** Options of the rate-limit plugin. */
export const rateLimitOptions = z.strictObject({
  /** Budgets by action pattern (`'role:vote,cmd:cast'`); actions not named are not limited. */
  limits: z.record(z.string(), rateLimit).default({}),
  /**
   * Where budgets are counted: `'memory'`, this instance's memory (one gateway); or
   * `{ redis: url }`, one Redis server, so N gateways share one budget.
   */
  store: z.union([z.literal('memory'), redisStore]).default('memory'),
})

/** Options of the rate-limit plugin as `use(ratelimit, options)` takes them. */
export type RateLimitOptions = z.input<typeof rateLimitOptions>
