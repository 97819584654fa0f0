import type { Clock, Context, Identity } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { KeyRing, KeyRings, VerifyKey } from './keys.js'
import type { Algorithm, ResolvedJwtOptions } from './options.js'
import { jsonwebtoken } from './peer.js'

/**
 * Why a token was refused: `details.reason` of the `UNAUTHENTICATED` error. Stable, like error
 * codes; docs/identity.md lists them. The message beside it is ours, never the library's.
 */
export const REFUSALS = {
  missing: 'this action needs a token',
  'too-large': 'the token is too large',
  malformed: 'the token is not a well-formed JWT',
  algorithm: "the token's algorithm is not accepted",
  'key-source': 'the token names where to fetch its key; keys come from this service alone',
  'unknown-key': "the token's signing key is unknown",
  signature: "the token's signature is not valid",
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet',
  'no-expiry': 'the token has no expiry',
  issuer: 'the token comes from an issuer this service does not trust',
  audience: 'the token is not meant for this service',
  type: 'the token is of a kind not accepted here',
  subject: 'the token names no subject',
  binding: 'the delegation token belongs to another message',
  lifetime: 'the delegation token lives longer than allowed',
} as const

/** A reason a token is refused. */
export type Refusal = keyof typeof REFUSALS

/** The `UNAUTHENTICATED` error for a refusal. */
export function refused(reason: Refusal): StoaError {
  return new StoaError('UNAUTHENTICATED', REFUSALS[reason], { reason })
}

/** The three kinds of token, told apart by the header's `typ` (RFC 8725 §3.11). */
export type TokenKind = 'user' | 'system' | 'delegation'

/** The `typ` of stoa's system tokens. */
export const SYSTEM_TYP = 'stoa-system+jwt'
/** The `typ` of stoa's delegation tokens. */
export const DELEGATION_TYP = 'stoa-delegation+jwt'
/** The `typ` values a user token may carry (or none). */
const USER_TYPS: ReadonlySet<string> = new Set(['jwt', 'at+jwt', 'application/at+jwt'])
/** Header parameters that tell a verifier where to get a key: stoa never follows them. */
const KEY_SOURCES = ['jku', 'x5u', 'jwk', 'x5c'] as const
/** The reserved role and subject of the system identity: no other kind of token may claim them. */
const SYSTEM = 'system'

/** A verified token: the identity it stands for and its kind. */
export interface Verified {
  readonly identity: Identity
  readonly kind: TokenKind
}

/**
 * Verifies tokens: size first, then the header (algorithm allow-list, key-source headers
 * refused, kind by `typ`), the key by `alg` and `kid` from the kind's own ring, the signature and
 * `exp`/`nbf` (jsonwebtoken), then the claims each kind requires. User and system tokens verified
 * recently are remembered (bounded, never past `exp`). Failures are `UNAUTHENTICATED` with a
 * {@link Refusal} reason.
 */
export class Verifier {
  private readonly cache: TokenCache

  /** @param clock the instance's: `exp` and `nbf` are checked, and cached tokens kept, by its time. */
  constructor(
    private readonly options: ResolvedJwtOptions,
    private readonly rings: KeyRings,
    private readonly clock: Pick<Clock, 'now'> = Date,
  ) {
    this.cache = new TokenCache(options.cacheSize, options.cacheMs, options.clockToleranceSec * 1000, clock)
  }

  /**
   * Verifies `token` for a call. `ctx` binds a delegation token to its message. Returns at once
   * unless a key must be fetched.
   */
  verify(token: string, ctx: Pick<Context, 'id' | 'task'> | undefined): Verified | Promise<Verified> {
    // Before anything parses it: a huge token costs nothing but this comparison.
    if (token.length > this.options.maxTokenBytes) throw refused('too-large')
    const hit = this.cache.get(token)
    if (hit !== undefined) return hit
    const parts = token.split('.')
    if (parts.length !== 3) throw refused('malformed')
    const header = segment(parts[0]!)
    if (segment(parts[1]!) === undefined || header === undefined) throw refused('malformed')
    for (const name of KEY_SOURCES) if (header[name] !== undefined) throw refused('key-source')
    const kind = kindOf(header.typ)
    const ring = this.ringOf(kind)
    const alg = header.alg
    if (typeof alg !== 'string' || !ring.algorithms.has(alg as Algorithm)) throw refused('algorithm')
    const kid = header.kid
    if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 256))
      throw refused('malformed')
    const key = ring.find(alg as Algorithm, kid)
    if (key instanceof Promise) return key.then((k) => this.finish(token, k, alg as Algorithm, kind, ctx))
    return this.finish(token, key, alg as Algorithm, kind, ctx)
  }

  private ringOf(kind: TokenKind): KeyRing {
    if (kind === 'user') return this.rings.user
    const ring = kind === 'system' ? this.rings.system : this.rings.delegation
    if (ring === undefined) throw refused('type')
    return ring
  }

  private finish(
    token: string,
    key: VerifyKey | undefined,
    alg: Algorithm,
    kind: TokenKind,
    ctx: Pick<Context, 'id' | 'task'> | undefined,
  ): Verified {
    if (key === undefined) throw refused('unknown-key')
    let claims: Record<string, unknown>
    const jwt = jsonwebtoken()
    try {
      const out = jwt.verify(token, key, {
        algorithms: [alg],
        clockTolerance: this.options.clockToleranceSec,
        // jsonwebtoken reads Date.now() unless told the time: the instance's clock tells it.
        clockTimestamp: Math.floor(this.clock.now() / 1000),
        complete: true,
      })
      claims = out.payload as Record<string, unknown>
    } catch (err) {
      // Only the kind of failure is kept: jsonwebtoken's wording names what was expected.
      if (err instanceof jwt.TokenExpiredError) throw refused('expired')
      if (err instanceof jwt.NotBeforeError) throw refused('not-yet-valid')
      throw refused('signature')
    }
    if (claims === null || typeof claims !== 'object') throw refused('malformed')
    if (typeof claims.exp !== 'number') throw refused('no-expiry')
    const sub = claims.sub
    if (typeof sub !== 'string' || sub === '') throw refused('subject')
    let verified: Verified
    if (kind === 'system') {
      if (!hasAudience(claims.aud, this.options.system!.audience)) throw refused('audience')
      if (sub !== SYSTEM) throw refused('type')
      verified = made({ sub, roles: [SYSTEM], claims }, kind)
    } else if (kind === 'delegation') {
      const d = this.options.delegation!
      if (!hasAudience(claims.aud, d.audience)) throw refused('audience')
      const act = claims.act as { sub?: unknown } | undefined
      if (act === null || typeof act !== 'object' || typeof act.sub !== 'string') throw refused('malformed')
      if (typeof claims.iat !== 'number' || claims.exp - claims.iat > d.ttlMs / 1000) throw refused('lifetime')
      // Bound to one message: the same token on another message (a replay) is refused.
      if (ctx === undefined || claims.mid !== ctx.id || claims.tsk !== ctx.task) throw refused('binding')
      verified = made({ sub, roles: userRoles(sub, claims.roles), claims }, kind)
    } else {
      const o = this.options
      if (o.issuer !== undefined && !oneOf(claims.iss, o.issuer)) throw refused('issuer')
      if (o.audience !== undefined && !hasAnyAudience(claims.aud, o.audience)) throw refused('audience')
      // A user token never stands for stoa's own kinds, whatever audience its issuer gave it.
      if (o.system !== undefined && hasAudience(claims.aud, o.system.audience)) throw refused('type')
      if (o.delegation !== undefined && hasAudience(claims.aud, o.delegation.audience)) throw refused('type')
      verified = made({ sub, roles: userRoles(sub, claimAt(claims, o.rolesClaim)), claims }, kind)
      this.cache.set(token, verified, claims.exp)
      return verified
    }
    if (kind === 'system') this.cache.set(token, verified, claims.exp)
    return verified
  }
}

/** A user's roles: strings only; `system` (role or subject) belongs to system tokens alone. */
function userRoles(sub: string, value: unknown): readonly string[] {
  if (sub === SYSTEM) throw refused('type')
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((r) => typeof r === 'string')) throw refused('malformed')
  if (value.includes(SYSTEM)) throw refused('type')
  return value as string[]
}

function made(
  identity: { sub: string; roles: readonly string[]; claims: Record<string, unknown> },
  kind: TokenKind,
): Verified {
  return Object.freeze({
    identity: Object.freeze({
      sub: identity.sub,
      roles: Object.freeze([...identity.roles]),
      claims: Object.freeze(identity.claims),
    }),
    kind,
  })
}

function kindOf(typ: unknown): TokenKind {
  if (typ === undefined) return 'user'
  if (typeof typ !== 'string') throw refused('malformed')
  const t = typ.toLowerCase()
  if (t === SYSTEM_TYP) return 'system'
  if (t === DELEGATION_TYP) return 'delegation'
  if (USER_TYPS.has(t)) return 'user'
  throw refused('type')
}

/** A base64url JSON object segment, or undefined. */
function segment(text: string): Record<string, unknown> | undefined {
  if (text.length === 0 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function oneOf(value: unknown, allowed: string | readonly string[]): boolean {
  return typeof value === 'string' && (typeof allowed === 'string' ? value === allowed : allowed.includes(value))
}

function hasAudience(aud: unknown, wanted: string): boolean {
  return aud === wanted || (Array.isArray(aud) && aud.includes(wanted))
}

function hasAnyAudience(aud: unknown, wanted: string | readonly string[]): boolean {
  return typeof wanted === 'string' ? hasAudience(aud, wanted) : wanted.some((w) => hasAudience(aud, w))
}

/** The claim at a dotted path (`realm_access.roles`); a key holding a colon (`cognito:groups`) is one step. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path]
  let at: unknown = claims
  for (const step of path.split('.')) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, step)) return undefined
    at = (at as Record<string, unknown>)[step]
  }
  return at
}

/**
 * Tokens verified lately, so that a client sending the same token with every request is
 * verified once per `ttlMs`. Bounded (the oldest entry goes first); an entry never outlives its
 * token's `exp`.
 */
class TokenCache {
  private readonly entries = new Map<string, { verified: Verified; until: number }>()

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
    private readonly toleranceMs: number,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  get(token: string): Verified | undefined {
    if (this.size === 0) return undefined
    const e = this.entries.get(token)
    if (e === undefined) return undefined
    if (this.clock.now() < e.until) return e.verified
    this.entries.delete(token)
    return undefined
  }

  set(token: string, verified: Verified, exp: number): void {
    if (this.size === 0 || this.ttlMs === 0) return
    if (this.entries.size >= this.size) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(token, { verified, until: Math.min(this.clock.now() + this.ttlMs, exp * 1000 + this.toleranceMs) })
  }
}
