import { z } from 'zod'

/** Options of the health plugin. */
export const healthOptions = z.strictObject({
  /**
   * Also answer `GET /healthz` and `GET /readyz` on the web plugin's routes (`serveWeb`,
   * `mountWeb`, API Gateway), beside the routes of the web plugins loaded.
   */
  web: z.boolean().default(false),
})

/** Options of the health plugin as `use(health, options)` takes them. */
export type HealthOptions = z.input<typeof healthOptions>
