import { z } from 'zod'

/** The HTTP methods a route may answer; the list seneca-web accepts. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const

/** A success status an action's route may answer with instead of 200 (201 Created, 202 Accepted...). */
const successStatus = z.number().int().min(200).max(299)

/**
 * One entry of a seneca-web `map`: `true` (a GET route), or which methods it answers plus
 * `alias`, `suffix`, `name` and, new in stoa, `status`. seneca-web's `auth`, `secure`,
 * `middleware`, `redirect` and `autoreply` are accepted and ignored, so maps carry over as they are.
 */
const senecaRouteSpec = z.looseObject({
  GET: z.boolean().optional(),
  POST: z.boolean().optional(),
  PUT: z.boolean().optional(),
  PATCH: z.boolean().optional(),
  DELETE: z.boolean().optional(),
  HEAD: z.boolean().optional(),
  OPTIONS: z.boolean().optional(),
  alias: z.string().optional(),
  suffix: z.string().optional(),
  name: z.string().optional(),
  status: successStatus.optional(),
})

/**
 * A seneca-web route set: `pin` (with `:*` standing for each map key), `prefix`, `postfix` and
 * `map`. Paths are `prefix/key/postfix/suffix`, or `alias` when given, as in seneca-web.
 */
export const senecaRouteSet = z.looseObject({
  pin: z.string().min(1),
  prefix: z.string().optional(),
  postfix: z.string().optional(),
  map: z.record(z.string(), z.union([z.boolean(), senecaRouteSpec])),
})

/**
 * The compact form: `'METHOD /path': 'pattern'`, or `{ pattern, status }` to answer with
 * another success status.
 */
export const compactRoutes = z.record(z.string(), z.union([z.string(), z.strictObject({ pattern: z.string(), status: successStatus.optional() })]))

/** Options of the web plugin: its routes and the limits every request is held to. */
export const webOptions = z.strictObject({
  /** One route map, or a list of them, in the seneca-web or the compact form. */
  routes: z.union([senecaRouteSet, compactRoutes, z.array(z.union([senecaRouteSet, compactRoutes]))]).default({}),
  /** Prepended to every path of this plugin's routes, e.g. `/api`. */
  prefix: z.string().default(''),
  /** Request bodies over this size are refused with 413 before they are parsed: 1 MiB. */
  maxBodyBytes: z.number().int().positive().default(1024 * 1024),
  /** Request headers (lowercase) passed to the action as `ctx.headers`; others stay at the edge. */
  headers: z.array(z.string().toLowerCase()).default(['user-agent', 'x-forwarded-for']),
  /** Time limit of the action behind a route, ms; the action's or the instance's default otherwise. */
  timeoutMs: z.number().int().positive().optional(),
  /**
   * The message an action gets: `flat`, query < body < path parameters merged under the
   * pattern's pairs; or `seneca-web`, `{ args: { params, query, body, route, user } }` as
   * seneca-web's express adapter builds it, for actions written for seneca-web.
   */
  message: z.enum(['flat', 'seneca-web']).default('flat'),
})

/** Options of the web plugin as `use(web, options)` takes them. */
export type WebOptions = z.input<typeof webOptions>

/** A route set in seneca-web's format. */
export type SenecaRouteSet = z.input<typeof senecaRouteSet>

/** Routes in the compact form. */
export type CompactRoutes = z.input<typeof compactRoutes>

/** Any route map the web plugin accepts. */
export type RouteMap = WebOptions['routes']
