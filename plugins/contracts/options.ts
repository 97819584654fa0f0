import { z } from 'zod'

/** Options of the contracts plugin. */
export const contractsOptions = z.strictObject({
  /** Put `GET /openapi.json` and `GET /asyncapi.json` on the web plugin's routes. */
  web: z.boolean().default(true),
  /** Serve the reference page and its assets as HTTP endpoints. */
  page: z.boolean().default(true),
  openapiPath: z.string().startsWith('/').default('/openapi.json'),
  asyncapiPath: z.string().startsWith('/').default('/asyncapi.json'),
  /** Where the reference page is: its script and stylesheet are under it. */
  docsPath: z.string().startsWith('/').default('/docs'),
  /** The AMQP/NATS prefix of queue names in the AsyncAPI document, as the transports are given it. */
  prefix: z.string().default('stoa'),
  /** The documents' title; default the service's name. */
  title: z.string().optional(),
  /**
   * Contracts of other services (`stoa contract --save`'s `contracts`), so a gateway's routes to
   * their actions carry their schemas.
   */
  with: z.array(z.looseObject({ format: z.literal(1), service: z.string() })).default([]),
})

/** Options of the contracts plugin as `use(contracts, options)` takes them. */
export type ContractsOptions = z.input<typeof contractsOptions>
