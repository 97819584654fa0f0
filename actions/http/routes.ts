import type { ActionDef } from '../action.js'
import type { Context } from '../context.js'
import { StoaError } from '../errors.js'
import type { Message } from '../pattern.js'

/** The HTTP methods a route may answer; the list seneca-web accepts. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const

/** An HTTP method a route answers. */
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** Express middleware, or the name of one given when the routes are mounted. */
export type WebMiddleware = string | ((...args: never[]) => unknown)

/**
 * One route of the neutral table every route-map format becomes: what every HTTP front
 * serves, and what `role:web,cmd:routes` lists.
 */
export interface WebRoute {
  readonly method: HttpMethod
  /** An express-style path: `/votes/:id`. */
  readonly path: string
  /** The canonical pattern of the action the route runs. */
  readonly pattern: string
  /** The status of a successful answer: 200 unless the route asks for 201, 202... */
  readonly status: number
  /** seneca-web maps: express middleware run before the action, functions or names. */
  readonly middleware?: readonly WebMiddleware[]
  /** seneca-web maps: only requests with `req.user`; others go to `fail` (or get 401). */
  readonly secure?: { readonly fail?: string | undefined }
  /** seneca-web maps: answer a successful action with a 302 to this path. */
  readonly redirect?: string
}

/** A route as the web plugin serves it: the neutral route plus the limits of its plugin. */
export interface ServedRoute extends WebRoute {
  /** The web plugin (with its tag) that declared the route. */
  readonly plugin: string
  /** Bodies over this size are refused with 413. */
  readonly maxBodyBytes: number
  /** Request headers (lowercase) passed on to the action as `ctx.headers`. */
  readonly headers: readonly string[]
  /** Time limit of the action, ms, when the route sets one. */
  readonly timeoutMs?: number | undefined
  /**
   * The message's shape: `flat` (query, body and path parameters merged) or `seneca-web`
   * (`{ args: { params, query, body, route, user } }`, what seneca-web's actions read).
   */
  readonly message: 'flat' | 'seneca-web'
  /** The login cookie the token may come in, and the origins allowed to change state with it. */
  readonly cookie?: { readonly name: string; readonly allowedOrigins: readonly string[] } | undefined
}

/** What {@link webRoutes} needs of an instance. */
export interface RouteSource {
  has(pattern: string): boolean
  act(pattern: string): Promise<unknown>
}

/**
 * The route table of every web plugin instance loaded on `stoa`, in loading order (none
 * without a web plugin).
 *
 * @example
 * for (const r of await webRoutes(stoa)) console.log(r.method, r.path, '->', r.pattern)
 */
export async function webRoutes(stoa: RouteSource): Promise<ServedRoute[]> {
  if (!stoa.has('role:web,cmd:routes')) return []
  const out = (await stoa.act('role:web,cmd:routes')) as { routes: ServedRoute[] }
  return out.routes
}

/**
 * The `role:web,cmd:routes` action of a plugin that serves `routes`: it answers the routes
 * registered before it (a web plugin loaded earlier, under another tag) followed by its own. It
 * is public: the HTTP fronts read it with no identity, and the authz plugin needs every
 * action to say what it requires.
 *
 * @example
 * stoa.add('role:web,cmd:routes', routeTableAction([probeRoute]))
 */
export function routeTableAction(routes: readonly ServedRoute[]): ActionDef<Message, { routes: ServedRoute[] }> {
  return {
    public: true,
    handler: async (_msg: Message, ctx: Context) => {
      const earlier = await ctx.prior().then(
        (out: unknown) => (out as { routes?: ServedRoute[] }).routes ?? [],
        (err: unknown) => {
          if (err instanceof StoaError && err.code === 'NOT_FOUND') return []
          throw err
        },
      )
      return { routes: [...earlier, ...routes] }
    },
  }
}
