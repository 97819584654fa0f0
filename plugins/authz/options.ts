import { z } from 'zod'

/** A permission: `move:read`; `move:*` grants every permission starting `move:`; `*` grants all. */
const permission = z
  .string()
  .regex(/^(?:\*|[\w.-]+(?::[\w.-]+)*(?::\*)?)$/, 'must look like "move:read", "move:*" or "*"')

/** Options of the authz plugin: what each global role may do in this service. */
export const authzOptions = z.strictObject({
  /**
   * Global role -> this service's permissions, e.g.
   * `{ 'user-mover': ['move:read'], 'user-business': ['move:*'], system: ['*'] }`. A role not
   * listed grants nothing.
   */
  roles: z.record(z.string().min(1), z.array(permission)),
  /**
   * Declarations made by the service for actions that cannot make their own (a Seneca-style
   * plugin's, a third party's), by pattern: `{ 'role:calc,cmd:sum': { permission: 'calc:use' },
   * 'role:calc,cmd:ping': { public: true } }`. They win over the action's own.
   */
  declare: z
    .record(z.string().min(1), z.union([z.strictObject({ permission }), z.strictObject({ public: z.literal(true) })]))
    .default({}),
})

/** Options of the authz plugin as `use(authz, options)` takes them. */
export type AuthzOptions = z.input<typeof authzOptions>
