import { z } from 'zod'

/** Options of the tracing plugin. */
export const tracingOptions = z.strictObject({
  /** The name the plugin's tracer is obtained under (`trace.getTracer(name)`). */
  tracerName: z.string().min(1).default('stoa'),
})

/** Options of the tracing plugin as `use(tracing, options)` takes them. */
export type TracingOptions = z.input<typeof tracingOptions>
