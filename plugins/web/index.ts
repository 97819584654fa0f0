/**
 * The web plugin: actions on HTTP routes. Route maps in seneca-web's format or the compact
 * `'POST /votes/:id': 'role:vote,cmd:cast'` form become one neutral table, which express
 * ({@link mountWeb}), stoa's own node:http server ({@link serveWeb}) and other HTTP front ends
 * serve through one core, {@link handleWebRequest}.
 *
 * A route's success status is part of the route: `{ pattern, status: 202 }` in the compact
 * form, `status: 201` in a seneca-web map entry. An action that must choose (201 when it
 * created, 200 when it found) asks under its result's `http$` key ({@link HttpReply}), which
 * other transports carry as part of the result.
 */
import type { ActionDef, Context, Message } from '../../actions/index.js'
import { definePlugin, StoaError } from '../../actions/index.js'
import type { ServedRoute } from './handle.js'
import { webOptions } from './options.js'
import { toRouteTable } from './route-map.js'

export type { TokenCookieOptions } from './cookie.js'
export { checkSameOrigin, clearTokenCookie, readCookie, tokenCookie } from './cookie.js'
export type { MountWebOptions } from './express.js'
export { mountWeb, webRoutes } from './express.js'
export type { HttpReply, ServedRoute, WebRequest, WebResponse } from './handle.js'
export { errorResponse, handleWebRequest, parseJsonBody, unmatchedResponse } from './handle.js'
export type { Match } from './match.js'
export { createMatcher } from './match.js'
export type { CompactRoutes, RouteMap, SenecaRouteSet, WebOptions } from './options.js'
export type { HttpMethod, WebMiddleware, WebRoute } from './route-map.js'
export type { NodeMiddleware, ServeWebOptions, WebServer } from './serve.js'
export { serveWeb } from './serve.js'

/**
 * The web plugin. Its options hold the route maps and the request limits; it adds
 * `role:web,cmd:routes`, answering `{ routes }`: the neutral table of every web plugin loaded
 * (each tagged instance adds its routes to the earlier ones'), which `mountWeb` mounts and
 * tools can list.
 *
 * @example
 * const stoa = createStoa({ name: 'gateway' })
 *   .use(math)
 *   .use(web, {
 *     routes: {
 *       'GET /sum': 'role:math,cmd:sum',
 *       'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 },
 *     },
 *   })
 * const server = await serveWeb(stoa, { port: 3000 })
 */
const web = definePlugin({
  name: 'web',
  options: webOptions,
  actions: (options, info) => {
    const routes: ServedRoute[] = toRouteTable(options.routes, options.prefix).map((r) =>
      Object.freeze({
        ...r,
        plugin: info.fullname,
        maxBodyBytes: options.maxBodyBytes,
        headers: options.headers,
        message: options.message,
        cookie: options.cookie,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      }),
    )
    return { 'role:web,cmd:routes': routeTableAction(routes) }
  },
})

/**
 * The `role:web,cmd:routes` action of a plugin that serves `routes`: it answers the routes
 * registered before it (a web plugin loaded earlier, under another tag) followed by its own. It
 * is public: mountWeb and serveWeb read it with no identity, and the authz plugin needs every
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

export default web
