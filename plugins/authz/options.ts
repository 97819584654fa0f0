import { z } from 'zod'

/** A permission: `move:read`; `move:*` grants every permission starting `move:`; `*` grants all. */
const permission = z.string().regex(/^(?:\*|[\w.-]+(?::[\w.-]+)*(?::\*)?)$/, 'must look like "move:read", "move:*" or "*"')

/** Options of the authz plugin: what each global role may do in this service. */
export const authzOptions = z.strictObject({
  /**
   * Global role -> this service's permissions, e.g.
   * `{ 'user-mover': ['move:read'], 'user-business': ['move:*'], system: ['*'] }`. A role not
   * listed grants nothing.
   */
  roles: z.record(z.string().min(1), z.array(permission)),
})

/** Options of the authz plugin as `use(authz, options)` takes them. */
export type AuthzOptions = z.input<typeof authzOptions>
