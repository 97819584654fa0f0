// One server of the identity suite, in its own process: `server.ts <open|jwt|jwt-nocache>`
// serves `GET /sum?left=1&right=2` with stoa's web plugin on 127.0.0.1 and prints {"url"}.
// `jwt` protects the route with the jwt (HS256, default cache) and authz plugins; `jwt-nocache`
// verifies every request's token.
import { createStoa } from '../../actions/index.js'
import authz from '../../plugins/authz/index.js'
import jwt from '../../plugins/jwt/index.js'
import web, { serveWeb } from '../../plugins/web/index.js'
import { SECRET } from './token.js'

const kind = process.argv[2] ?? 'open'
const quiet = { error() {}, warn() {}, info() {}, debug() {} }
const stoa = createStoa({ name: 'bench', logger: quiet })
if (kind !== 'open') {
  stoa.use(jwt, { secret: SECRET, audience: 'bench', ...(kind === 'jwt-nocache' ? { cacheSize: 0 } : {}) })
  stoa.use(authz, { roles: { 'user-client': ['math:use'] } })
}
stoa.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }), { permission: 'math:use' })
stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
process.stdout.write(`${JSON.stringify({ url: (await serveWeb(stoa)).url })}\n`)
