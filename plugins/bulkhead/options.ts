import { z } from 'zod'

/** One bulkhead: how many calls run at once, and how many may wait for a turn. */
export const bulkheadLimit = z.strictObject({
  /** Calls of the action (or plugin) running at once. */
  concurrency: z.number().int().min(1),
  /** Calls waiting for a turn, first come first served; past it, `OVERLOADED` at once. */
  queue: z.number().int().min(0).default(0),
})

/** A bulkhead limit as an action or the plugin options declare it. */
export type BulkheadLimit = z.input<typeof bulkheadLimit>

/** Options of the bulkhead plugin. */
export const bulkheadOptions = z.strictObject({
  /**
   * Limits shared by every action of a plugin, by plugin name (`tally`, or `web$admin` for a
   * tagged one). An action's own `bulkhead` option takes precedence over its plugin's.
   */
  plugins: z.record(z.string(), bulkheadLimit).default({}),
  /** What `Retry-After` tells a refused caller (HTTP 503), ms, rounded up to whole seconds. */
  retryAfterMs: z.number().int().min(0).default(1000),
})

/** Options of the bulkhead plugin as `use(bulkhead, options)` takes them. */
export type BulkheadOptions = z.input<typeof bulkheadOptions>
