// One contestant of the identity suite's per-act figures, in its own process:
//   node --import tsx bench/identity/act.ts <open|hs256|rs256|hs256-cached>
// Acts on a protected action with a token, sequentially; prints {"ops": acts per second}.
// `open` has neither jwt nor authz; the others verify the token on every act (cache off), or
// once per 30 s (`-cached`, the default configuration).
import { generateKeyPairSync } from 'node:crypto'
import { createStoa } from '../../actions/index.js'
import authz from '../../plugins/authz/index.js'
import jwt, { signToken } from '../../plugins/jwt/index.js'
import { emitFigures, measure } from '../lib.js'

const who = process.argv[2] ?? 'open'
const ms = Number(process.env.BENCH_MS ?? 1500)
const SECRET = 'bench-secret-of-at-least-thirty-two-characters'
const quiet = { error() {}, warn() {}, info() {}, debug() {} }
const sum = (m: Record<string, unknown>) => ({ answer: Number(m.left) + Number(m.right) })

const stoa = createStoa({ name: 'bench', logger: quiet })
let token: string | undefined
if (who !== 'open') {
  const rsa = who.startsWith('rs256') ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : undefined
  const cacheSize = who.endsWith('-cached') ? 1000 : 0
  stoa.use(
    jwt,
    rsa === undefined
      ? { secret: SECRET, audience: 'bench', cacheSize }
      : { publicKey: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), audience: 'bench', cacheSize },
  )
  stoa.use(authz, { roles: { 'user-client': ['math:use'] } })
  const claims = { sub: 'u42', roles: ['user-client'] }
  token = signToken(
    claims,
    rsa === undefined
      ? { secret: SECRET, expiresInSec: 3600, audience: 'bench' }
      : { privateKey: rsa.privateKey, expiresInSec: 3600, audience: 'bench' },
  )
}
stoa.add('role:math,cmd:sum', sum, { permission: 'math:use' })
const msg = { role: 'math', cmd: 'sum', left: 1, right: 2 }
const opts = token === undefined ? undefined : { token }
const check = (await stoa.act(msg, undefined, opts)) as { answer: number }
if (check.answer !== 3) throw new Error(`answered ${JSON.stringify(check)}`)
const ops = await measure(
  async () => {
    for (let i = 0; i < 100; i++) await stoa.act(msg, undefined, opts)
  },
  100,
  ms,
)
emitFigures({ ops })
