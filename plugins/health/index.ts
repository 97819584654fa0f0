/**
 * The health plugin: `role:health,cmd:alive` and `role:health,cmd:ready` as actions, the same
 * verdicts as `GET /healthz` and `GET /readyz` on the web plugin's routes (option `web`), and
 * {@link serveHealth}, a probe server on a port of its own. The verdict is the instance's
 * `readiness()`: started and not shutting down, every transport ready, every check passing.
 * The HTTP transport's listener answers `/healthz` and `/readyz` by itself.
 *
 * @module stoa/health
 */
import type { PluginHost } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { ServedRoute } from '../../actions/transport.js'
import { ALIVE_PATH, READY_PATH, routeTableAction } from '../../actions/transport.js'
import { healthOptions } from './options.js'

export type { ReadinessSource } from '../../actions/transport.js'
export { ALIVE_PATH, READY_PATH } from '../../actions/transport.js'
export type { HealthOptions } from './options.js'
export type { HealthServer, ServeHealthOptions } from './server.js'
export { serveHealth } from './server.js'

const ALIVE = 'role:health,cmd:alive'
const READY = 'role:health,cmd:ready'

/**
 * The health plugin. `role:health,cmd:ready` answers `{ ready: true, checks }`, or fails with
 * `UNAVAILABLE` (HTTP 503, exit 1) naming what is not ready, with the checks in its details;
 * `role:health,cmd:alive` answers `{ alive: true }`. Both are `public`: a probe carries no
 * token. With `{ web: true }` the web plugin's servers answer them on `/healthz` and `/readyz`.
 *
 * @example
 * const stoa = createStoa({ name: 'tally' })
 *   .use(health, { web: true })
 *   .use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
 * await stoa.act('role:health,cmd:ready') // { ready: true, checks: [...] }
 */
const health = definePlugin({
  name: 'health',
  options: healthOptions,
  init: (stoa: PluginHost, options) => {
    stoa.add(ALIVE, { public: true, description: 'whether the process answers', handler: () => ({ alive: true }) })
    stoa.add(READY, {
      public: true,
      description: 'whether the instance can take work: started, not shutting down, transports and checks ready',
      handler: async () => {
        const r = await stoa.readiness()
        if (r.ready) return r
        const failing = r.checks.filter((c) => !c.ready).map((c) => `${c.name}: ${c.reason ?? 'not ready'}`)
        throw new StoaError('UNAVAILABLE', `not ready (${failing.join('; ')})`, { checks: r.checks })
      },
    })
    if (options.web) {
      // Added to the web plugins' route table the way a second web plugin adds its own: after
      // the routes of whatever registered the table before.
      const routes: ServedRoute[] = [probeRoute(ALIVE_PATH, ALIVE), probeRoute(READY_PATH, READY)]
      stoa.add('role:web,cmd:routes', routeTableAction(routes))
    }
  },
})

function probeRoute(path: string, pattern: string): ServedRoute {
  return Object.freeze({
    method: 'GET',
    path,
    pattern: patternString(toPattern(pattern)),
    status: 200,
    plugin: 'health',
    maxBodyBytes: 1024,
    headers: [],
    message: 'flat',
  })
}

export default health
