import { z } from 'zod'

/** One budget: `points` calls per `durationSec`, counted per identity, client address or route. */
export const rateLimit = z.strictObject({
  /** Calls allowed in each window. */
  points: z.number().int().positive(),
  /** The window, seconds. */
  durationSec: z.number().int().positive(),
  /**
   * Whose budget a call spends: `identity` (the verified identity's `sub`, else the token, else
   * the client address), `address` (the first `x-forwarded-for` entry the web plugin passes on),
   * or `route` (one budget for every caller of the action).
   */
  by: z.enum(['identity', 'address', 'route']).default('identity'),
})

/** Options of the rate-limit plugin. */
export const rateLimitOptions = z.strictObject({
  /** Budgets by action pattern (`'role:vote,cmd:cast'`); actions not named are not limited. */
  limits: z.record(z.string(), rateLimit).default({}),
  /** Where budgets are counted: in this instance's memory (one gateway). */
  store: z.enum(['memory']).default('memory'),
})

/** Options of the rate-limit plugin as `use(ratelimit, options)` takes them. */
export type RateLimitOptions = z.input<typeof rateLimitOptions>
