import type { KeyObject } from 'node:crypto'
import { createPrivateKey, createSecretKey, randomUUID } from 'node:crypto'
import type { SignOptions } from 'jsonwebtoken'
import type { Clock } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import { asymmetricAlgorithm } from './keys.js'
import type { Algorithm } from './options.js'
import { jsonwebtoken } from './peer.js'
import { DELEGATION_TYP, SYSTEM_TYP } from './verify.js'

/** How {@link signToken} signs: one key, a bounded lifetime, and the claims verifiers check. */
export interface SignTokenOptions {
  /** HS256 shared secret (at least 32 characters). Give this or `privateKey`. */
  secret?: string
  /** PEM (or KeyObject) RSA or EC P-256 private key: RS256 or ES256. */
  privateKey?: string | KeyObject
  /** Lifetime, seconds; required, since a verifier refuses a token without `exp`. */
  expiresInSec: number
  /** `iss`: who issued it, e.g. `https://auth.example.com`. */
  issuer?: string
  /** `aud`: the services it is meant for. */
  audience?: string | string[]
  /** `kid`: the key's name, for verifiers that hold several (a JWKS). */
  keyId?: string
  /**
   * Where `iat` (and so `exp`) is read: the issuing instance's clock (`stoa.clock`, `host.clock`),
   * so that under a virtual clock a token expires when the test moves time. Default: `Date`.
   */
  clock?: Pick<Clock, 'now'>
}

/** What a token says about its user: the subject, global roles and any other claims. */
export interface TokenClaims {
  /** The user's id. `system` is reserved for {@link signSystemToken}. */
  sub: string
  /** Global roles: `user-mover`, `user-client`, `user-business`... */
  roles?: readonly string[]
  [claim: string]: unknown
}

const LONGEST_SEC = 31 * 24 * 3600

/**
 * Signs a user token: what an authentication service issues after checking credentials. The
 * lifetime is bounded (a month at most; minutes to hours is usual), `iat` (by `clock`, else the
 * process's time) and a `jti` are added.
 *
 * @example
 * const token = signToken({ sub: 'u42', roles: ['user-mover'] }, { secret: jwtSecret, expiresInSec: 3600, audience: 'api', clock: stoa.clock })
 */
export function signToken(claims: TokenClaims, options: SignTokenOptions): string {
  if (claims.sub === 'system' || claims.roles?.includes('system') === true) {
    throw new StoaError('INVALID_MESSAGE', 'the system identity is signed with signSystemToken, never as a user')
  }
  return sign({ ...claims }, options, undefined)
}

/** How {@link signSystemToken} signs. */
export interface SignSystemTokenOptions extends Omit<SignTokenOptions, 'audience'> {
  /** The audience services expect of system tokens; default `stoa:system`. */
  audience?: string
}

/**
 * Signs a token for the `system` identity, for maintenance jobs and service-to-service work:
 * typed `stoa-system+jwt` and meant for the system audience, so that it never passes for a user
 * token, nor a user token for it. Sign it with the key services hold under `system` in their
 * jwt options, and keep it as secret as that key.
 *
 * @example
 * const token = signSystemToken({ secret: systemSecret, expiresInSec: 3600 })
 * await stoa.act('role:export,cmd:nightly', {}, { token })
 */
export function signSystemToken(options: SignSystemTokenOptions): string {
  return sign({ sub: 'system' }, { ...options, audience: options.audience ?? 'stoa:system' }, SYSTEM_TYP)
}

/**
 * A delegation token, as the jwt plugin issues it when a call leaves (see docs/identity.md):
 * the user's subject and roles, the acting service (RFC 8693 `act`), bound to one message (`mid`,
 * and `tsk` for a task). Rebinding an earlier delegation token (`from`) keeps its expiry and
 * its first actor.
 */
export function signDelegation(
  user: { sub: string; roles: readonly string[] },
  on: { service: string; messageId: string; task: string | undefined },
  from: Readonly<Record<string, unknown>> | undefined,
  signer: { key: string | KeyObject; algorithm: Algorithm },
  audience: string,
  ttlMs: number,
  nowMs: number,
): string {
  const now = Math.floor(nowMs / 1000)
  const exp = from === undefined ? now + Math.floor(ttlMs / 1000) : (from.exp as number)
  const act = from === undefined ? { sub: on.service } : from.act
  const payload: Record<string, unknown> = {
    sub: user.sub,
    roles: [...user.roles],
    act,
    mid: on.messageId,
    aud: audience,
    iss: on.service,
    iat: now,
    exp,
    jti: randomUUID(),
  }
  if (on.task !== undefined) payload.tsk = on.task
  return jsonwebtoken().sign(payload, signer.key, {
    algorithm: signer.algorithm,
    header: { alg: signer.algorithm, typ: DELEGATION_TYP },
  })
}

function sign(payload: Record<string, unknown>, options: SignTokenOptions, typ: string | undefined): string {
  if (!Number.isInteger(options.expiresInSec) || options.expiresInSec < 1 || options.expiresInSec > LONGEST_SEC) {
    throw new StoaError('INVALID_OPTIONS', `expiresInSec must be a whole number of seconds from 1 to ${LONGEST_SEC}`)
  }
  let key: string | KeyObject
  let algorithm: Algorithm
  if (options.secret !== undefined) {
    if (options.secret.length < 32) throw new StoaError('INVALID_OPTIONS', 'the secret must be at least 32 characters')
    key = createSecretKey(Buffer.from(options.secret, 'utf8'))
    algorithm = 'HS256'
  } else if (options.privateKey !== undefined) {
    key = typeof options.privateKey === 'string' ? createPrivateKey(options.privateKey) : options.privateKey
    algorithm = asymmetricAlgorithm(key, 'privateKey')
  } else {
    throw new StoaError('INVALID_OPTIONS', 'a secret or a private key is needed to sign')
  }
  const header: { alg: Algorithm; typ?: string; kid?: string } = { alg: algorithm }
  if (typ !== undefined) header.typ = typ
  if (options.keyId !== undefined) header.kid = options.keyId
  const signOptions: SignOptions = { algorithm, expiresIn: options.expiresInSec, header }
  // jsonwebtoken counts `exp` from the payload's `iat`, and reads Date.now() only without one.
  if (payload.iat === undefined) payload.iat = Math.floor((options.clock ?? Date).now() / 1000)
  if (payload.jti === undefined) signOptions.jwtid = randomUUID()
  if (options.issuer !== undefined) signOptions.issuer = options.issuer
  if (options.audience !== undefined && payload.aud === undefined) signOptions.audience = options.audience
  return jsonwebtoken().sign(payload, key, signOptions)
}
