import { z } from 'zod'

/** Duration buckets, seconds: from half a millisecond (an in-process act) to 10 s. */
const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Options of the metrics plugin. */
export const metricsOptions = z.strictObject({
  /** Prepended to the name of every stoa metric (process metrics keep their usual names). */
  prefix: z
    .string()
    .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name prefix')
    .default('stoa_'),
  /** Upper bounds of the duration histograms' buckets, seconds, increasing. */
  buckets: z
    .array(z.number().positive())
    .min(1)
    .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), 'must increase')
    .default(DEFAULT_BUCKETS),
  /** Export prom-client's process and Node.js metrics (CPU, memory, event-loop lag, GC, handles). */
  processMetrics: z.boolean().default(true),
})

/** Options of the metrics plugin as `use(metrics, options)` takes them. */
export type MetricsOptions = z.input<typeof metricsOptions>

/** The options once validated and completed with defaults. */
export type ResolvedMetricsOptions = Readonly<z.output<typeof metricsOptions>>
