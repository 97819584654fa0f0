import type { KeyObject } from 'node:crypto'
import { createPrivateKey, createPublicKey, createSecretKey } from 'node:crypto'
import type { Clock } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import { loadPeer } from '../../actions/transport.js'
import type { Algorithm, ResolvedJwtOptions } from './options.js'
import { fromEnvironment } from './options.js'

/** A verifying key: a shared secret (HS256) or a public key. */
export type VerifyKey = string | KeyObject

/**
 * The keys one kind of token is verified with, by algorithm. A key is only ever found by the
 * token's `alg` among keys of that family (a secret for HS256, a public key of the matching
 * type otherwise), so a token cannot make the service use a public key as an HMAC secret.
 */
export interface KeyRing {
  /** The algorithms this ring can verify. */
  readonly algorithms: ReadonlySet<Algorithm>
  /**
   * The key for a token's `alg` and `kid`: undefined when there is none, a promise when it must
   * be fetched. The `kid` is only ever a lookup key among keys already configured or fetched from
   * the configured JWKS URL: never a path, never a URL.
   */
  find(alg: Algorithm, kid: string | undefined): VerifyKey | undefined | Promise<VerifyKey | undefined>
}

/** The key rings of the three kinds of token, built (and checked) once, when the plugin is loaded. */
export interface KeyRings {
  readonly user: KeyRing
  readonly system: KeyRing | undefined
  readonly delegation: KeyRing | undefined
  /** The key that signs delegation tokens, when this service issues them. */
  readonly delegationSigner: { key: string | KeyObject; algorithm: Algorithm } | undefined
}

/**
 * Builds the key rings from validated options, with the environment fallbacks when the options
 * name no user key. Throws `INVALID_OPTIONS` naming the faulty option.
 */
export function buildKeyRings(
  options: ResolvedJwtOptions,
  env = fromEnvironment(),
  clock: Pick<Clock, 'now'> = Date,
): KeyRings {
  const given = options.secret !== undefined || options.publicKey !== undefined || options.jwksUri !== undefined
  const secret = given ? options.secret : env.secret
  const publicKey = given ? options.publicKey : env.publicKey
  if (secret === undefined && publicKey === undefined && options.jwksUri === undefined) {
    throw invalid(
      'secret',
      'no key to verify tokens with: give secret, publicKey or jwksUri (or set JWT_SECRET or JWT_PUBLIC_KEY)',
    )
  }
  if (secret !== undefined && secret.length < 32) throw invalid('secret', 'JWT_SECRET must be at least 32 characters')
  const jwks =
    options.jwksUri === undefined
      ? undefined
      : new JwksKeys(options.jwksUri, options.jwksCacheMs, options.jwksRefetchMs, options.jwksTimeoutMs, clock)
  const user = staticRing(secret, publicKey === undefined ? undefined : publicFrom(publicKey, 'publicKey'), jwks)
  if (options.algorithms !== undefined) {
    for (const alg of options.algorithms)
      if (!user.algorithms.has(alg)) throw invalid('algorithms', `no configured key verifies ${alg}`)
    const only = new Set(options.algorithms)
    for (const alg of [...user.algorithms]) if (!only.has(alg)) (user.algorithms as Set<Algorithm>).delete(alg)
  }
  const system = options.system
  const systemRing =
    system === undefined
      ? undefined
      : requireKey(
          staticRing(
            system.secret,
            system.publicKey === undefined ? undefined : publicFrom(system.publicKey, 'system.publicKey'),
            undefined,
          ),
          'system',
        )
  const d = options.delegation
  let delegationRing: KeyRing | undefined
  let delegationSigner: KeyRings['delegationSigner']
  if (d !== undefined) {
    const priv = d.privateKey === undefined ? undefined : privateFrom(d.privateKey, 'delegation.privateKey')
    const pub =
      d.publicKey !== undefined
        ? publicFrom(d.publicKey, 'delegation.publicKey')
        : priv === undefined
          ? undefined
          : createPublicKey(priv)
    delegationRing = requireKey(staticRing(d.secret, pub, undefined), 'delegation')
    if (d.secret !== undefined)
      delegationSigner = { key: createSecretKey(Buffer.from(d.secret, 'utf8')), algorithm: 'HS256' }
    else if (priv !== undefined)
      delegationSigner = { key: priv, algorithm: asymmetricAlgorithm(priv, 'delegation.privateKey') }
  }
  return { user, system: systemRing, delegation: delegationRing, delegationSigner }
}

/** The algorithm a private or public key signs with: RS256 for RSA, ES256 for EC P-256. */
export function asymmetricAlgorithm(key: KeyObject, option: string): Algorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  throw invalid(option, 'must be an RSA or EC P-256 key')
}

function staticRing(
  secretText: string | undefined,
  publicKey: KeyObject | undefined,
  jwks: JwksKeys | undefined,
): KeyRing {
  // A KeyObject, made once: given a string, jsonwebtoken first tries it as a PEM public key on
  // every call, and that failed attempt costs more than the HMAC itself.
  const secret = secretText === undefined ? undefined : createSecretKey(Buffer.from(secretText, 'utf8'))
  const algorithms = new Set<Algorithm>()
  if (secret !== undefined) algorithms.add('HS256')
  const pubAlg = publicKey === undefined ? undefined : asymmetricAlgorithm(publicKey, 'publicKey')
  if (pubAlg === 'RS256') algorithms.add('RS256').add('PS256')
  if (pubAlg === 'ES256') algorithms.add('ES256')
  if (jwks !== undefined) algorithms.add('RS256').add('PS256').add('ES256')
  return {
    algorithms,
    find(alg, kid) {
      if (alg === 'HS256') return secret
      if (jwks !== undefined && kid !== undefined) return jwks.get(kid, alg)
      if (publicKey === undefined) return undefined
      return (alg === 'ES256') === (pubAlg === 'ES256') ? publicKey : undefined
    },
  }
}

function requireKey(ring: KeyRing, option: string): KeyRing {
  if (ring.algorithms.size === 0) throw invalid(option, 'needs a secret or a key')
  return ring
}

function publicFrom(pem: string, option: string): KeyObject {
  try {
    return createPublicKey(pem)
  } catch {
    throw invalid(option, 'is not a PEM public key (or certificate)')
  }
}

function privateFrom(pem: string, option: string): KeyObject {
  try {
    return createPrivateKey(pem)
  } catch {
    throw invalid(option, 'is not a PEM private key')
  }
}

function invalid(option: string, why: string): StoaError {
  return new StoaError('INVALID_OPTIONS', `plugin "jwt": option "${option}": ${why}`, {
    plugin: 'jwt',
    fields: [option],
  })
}

/**
 * The keys of a JWKS URL, by `kid`. Fetched (through jwks-rsa, which turns JWKs into keys) when
 * first needed and again once they are older than `cacheMs`; an unknown `kid` fetches again only
 * if the last fetch was at least `refetchMs` ago, so tokens naming random kids cannot make the
 * service hammer the identity provider. One fetch at a time. When a refetch fails, keys already
 * held keep working; with none held the call fails `UNAVAILABLE` (worth retrying), not 401.
 */
export class JwksKeys {
  private keys = new Map<string, { key: KeyObject; alg: Algorithm }>()
  private fetchedAt = -Infinity
  private triedAt = -Infinity
  private fetching: Promise<void> | undefined
  private client: Promise<{ getSigningKeys(): Promise<{ kid: string; getPublicKey(): string }[]> }> | undefined

  constructor(
    private readonly uri: string,
    private readonly cacheMs: number,
    private readonly refetchMs: number,
    private readonly timeoutMs: number,
    /** The instance's clock: the cache's age and the refetch limit count on it. */
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** The key named `kid` for `alg`, fetching the set when the rules above allow. */
  get(kid: string, alg: Algorithm): KeyObject | undefined | Promise<KeyObject | undefined> {
    const now = this.clock.now()
    const held = this.keys.get(kid)
    if (held !== undefined && now - this.fetchedAt < this.cacheMs) return fits(held, alg)
    if (this.fetching === undefined && now - this.triedAt < this.refetchMs) {
      // Fetched (or tried) a moment ago: answer from what is held rather than fetch again.
      if (held !== undefined) return fits(held, alg)
      if (this.fetchedAt === -Infinity) throw unavailable(undefined)
      return undefined
    }
    return this.refresh().then(
      () => {
        const k = this.keys.get(kid)
        return k === undefined ? undefined : fits(k, alg)
      },
      (err: unknown) => {
        if (held !== undefined) return fits(held, alg)
        throw unavailable(err)
      },
    )
  }

  private refresh(): Promise<void> {
    if (this.fetching !== undefined) return this.fetching
    this.triedAt = this.clock.now()
    this.fetching = (async () => {
      try {
        this.client ??= loadPeer<{ default: typeof import('jwks-rsa') }>('jwks-rsa', 'stoa/jwt').then((m) =>
          m.default({ jwksUri: this.uri, cache: false, rateLimit: false, timeout: this.timeoutMs }),
        )
        const list = await (await this.client).getSigningKeys()
        const keys = new Map<string, { key: KeyObject; alg: Algorithm }>()
        for (const k of list) {
          if (typeof k.kid !== 'string') continue
          try {
            const key = createPublicKey(k.getPublicKey())
            keys.set(k.kid, { key, alg: asymmetricAlgorithm(key, 'jwks') })
          } catch {
            // A key of a type stoa does not verify with (an Ed25519 key, say) is left out.
          }
        }
        this.keys = keys
        this.fetchedAt = this.clock.now()
      } finally {
        this.fetching = undefined
      }
    })()
    return this.fetching
  }
}

function unavailable(cause: unknown): StoaError {
  return new StoaError(
    'UNAVAILABLE',
    'the signing keys cannot be fetched now',
    { reason: 'keys-unavailable' },
    { cause },
  )
}

/** An RSA key verifies RS256 and PS256, an EC key ES256: never across families. */
function fits(k: { key: KeyObject; alg: Algorithm }, alg: Algorithm): KeyObject | undefined {
  return (alg === 'ES256') === (k.alg === 'ES256') ? k.key : undefined
}
