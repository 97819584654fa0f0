import type { Args, Io } from '../io.js'
import { writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { stringFlag } from './shared.js'

/** Lifetimes a development token may be given: `90s`, `30m`, `1h`, `7d`, or seconds alone. */
const TTL = /^(\d+)(s|m|h|d)?$/
const UNIT_SEC = { s: 1, m: 60, h: 3600, d: 86_400 } as const

/**
 * `stoa token`: prints a user token signed with the HS256 secret a service's jwt plugin
 * verifies (`--secret`, else `$JWT_SECRET`), for calling a gateway by hand:
 * `curl -H "authorization: Bearer $(stoa token --sub u1 --roles user-client)" …`.
 *
 * @example
 * const code = await token({ positionals: [], values: { sub: 'u1', roles: 'user-client', ttl: '1h' } }, io)
 */
export async function token(args: Args, io: Io): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const sub = stringFlag(args, 'sub')
  if (sub === undefined || sub === '') throw new UsageError('missing --sub <user id>')
  const roles = (stringFlag(args, 'roles') ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
  const secret = stringFlag(args, 'secret') ?? io.env.JWT_SECRET
  if (secret === undefined || secret === '')
    throw new UsageError('no secret: give --secret <secret> or set JWT_SECRET, the secret the service verifies with')
  const ttlText = stringFlag(args, 'ttl') ?? '1h'
  const m = TTL.exec(ttlText)
  const expiresInSec = m === null ? NaN : Number(m[1]) * UNIT_SEC[(m[2] ?? 's') as keyof typeof UNIT_SEC]
  if (!(expiresInSec > 0)) throw new UsageError(`--ttl takes a lifetime like 90s, 30m, 1h or 7d; got "${ttlText}"`)
  const audience = stringFlag(args, 'audience')
  const issuer = stringFlag(args, 'issuer')
  // Loaded only for this command: it needs jsonwebtoken, which other commands never load.
  const { signToken } = await import('../../plugins/jwt/index.js')
  const signed = signToken(
    { sub, ...(roles.length === 0 ? {} : { roles }) },
    {
      secret,
      expiresInSec,
      ...(audience === undefined ? {} : { audience }),
      ...(issuer === undefined ? {} : { issuer }),
    },
  )
  if (args.values.json === true) writeJson(io.stdout, { token: signed })
  else io.stdout.write(`${signed}\n`)
  return 0
}
