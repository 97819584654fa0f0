import { z } from 'zod'

/** Options of the circuit breaker plugin. */
export const breakerOptions = z.strictObject({
  /** Consecutive `UNAVAILABLE` or `TIMEOUT` answers from one target that open its breaker. */
  failures: z.number().int().min(1).default(5),
  /**
   * How long an open breaker answers `UNAVAILABLE` at once before it lets one probe call
   * through (half-open), ms. The probe's success closes it; its failure opens it again.
   */
  halfOpenAfterMs: z.number().int().min(1).default(10_000),
})

/** Options of the breaker plugin as `use(breaker, options)` takes them. */
export type BreakerOptions = z.input<typeof breakerOptions>
