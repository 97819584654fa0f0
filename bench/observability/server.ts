// One web server of the observability suite, in its own process:
//   node --import tsx bench/observability/server.ts <bare-web|observed-web>
// Serves GET /sum?left=1&right=2 through the web plugin and prints {"url"} once listening.
// Observed, it is wired as `stoa serve --web` wires a service with the metrics plugin: every
// response counted by route and status, and GET /metrics beside the routes.
import { webMetrics } from '../../plugins/metrics/index.js'
import web, { serveWeb, webRoutes } from '../../plugins/web/index.js'
import { instance } from './setup.js'

const observed = process.argv[2] === 'observed-web'
const stoa = instance(observed)
stoa.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
await stoa.ready()
let url: string
if (observed) {
  url = (await serveWeb(stoa, { before: [webMetrics(stoa, await webRoutes(stoa))] })).url
} else {
  url = (await serveWeb(stoa)).url
}
process.stdout.write(`${JSON.stringify({ url })}\n`)
