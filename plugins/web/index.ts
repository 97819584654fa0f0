/**
 * The web plugin: actions on HTTP routes. Route maps in seneca-web's format or the compact
 * `'POST /votes/:id': 'role:vote,cmd:cast'` form become one neutral table, which express
 * ({@link mountWeb}), stoa's own node:http server ({@link serveWeb}) and API Gateway serve
 * through one pipeline, `createWebPipeline` in `stoa/transport`, which owns the whole request;
 * each front only translates its native request and answer.
 *
 * This door holds what applications use. What other HTTP fronts and servers need (the
 * pipeline, the route matcher, the body reader, error and probe answers, the close policy) is
 * in the HTTP section of `stoa/transport`.
 *
 * Stream routes (`streams: { '/live/votes': 'vote.recorded' }`) carry events to browsers as
 * server-sent events and over WebSocket, from any gateway instance: see docs/web.md.
 *
 * A route's success status is part of the route: `{ pattern, status: 202 }` in the compact
 * form, `status: 201` in a seneca-web map entry. An action that must choose (201 when it
 * created, 200 when it found) asks under its result's `http$` key ({@link HttpReply}), which
 * other transports carry as part of the result.
 *
 * @module stoa/web
 */
import { createRequire } from 'node:module'
import { definePlugin } from '../../actions/index.js'
import type { ServedRoute } from '../../actions/transport.js'
import { deferredSchema, routeTableAction } from '../../actions/transport.js'
import { quickWebOptions } from './defaults.js'
import type * as OptionsModule from './options.js'
import { streamTable, toRouteTable } from './route-map.js'

export type { HttpReply, ServedRoute, WebRoute } from '../../actions/transport.js'
export { routeTableAction, webRoutes } from '../../actions/transport.js'
export type { TokenCookieOptions } from './cookie.js'
export { checkSameOrigin, clearTokenCookie, readCookie, tokenCookie } from './cookie.js'
export type { ExpressApp, ExpressMiddleware, ExpressRouter, MountWebOptions } from './express.js'
export { mountWeb } from './express.js'
export type { CompactRoutes, RouteMap, SenecaRouteSet, WebOptions } from './options.js'
export type { HttpMethod, WebMiddleware } from './route-map.js'
export type { NodeMiddleware, ServeWebOptions, WebServer } from './serve.js'
export { serveWeb } from './serve.js'
export { upgradeWeb } from './ws.js'

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
const require = createRequire(import.meta.url)

/**
 * The options schema, loaded (with zod) only for options beyond compact routes and the scalar
 * limits: a Lambda handler or a small gateway starts without it.
 */
const webOptions = deferredSchema<typeof OptionsModule.webOptions>(
  quickWebOptions,
  () => (require('./options.js') as typeof OptionsModule).webOptions,
)

const web = definePlugin({
  name: 'web',
  options: webOptions,
  setup: (options, host) => {
    const limits = {
      plugin: host.plugin.fullname,
      maxBodyBytes: options.maxBodyBytes,
      headers: options.headers,
      message: options.message,
      cookie: options.cookie,
      ...(options.cors === undefined ? {} : { cors: options.cors }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    }
    const routes: ServedRoute[] = toRouteTable(options.routes, options.prefix).map((r) =>
      Object.freeze({ ...r, ...limits }),
    )
    const { streamRoutes, subscriptions } = streamTable(options, routes)
    return {
      actions: {
        'role:web,cmd:routes': routeTableAction([...routes, ...streamRoutes.map((r) => ({ ...r, ...limits }))]),
      },
      subscriptions,
    }
  },
})

export default web
