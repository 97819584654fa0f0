import { z } from 'zod'

/** The algorithms stoa verifies; `none` is never one of them. jsonwebtoken has no EdDSA. */
export const ALGORITHMS = ['HS256', 'RS256', 'PS256', 'ES256'] as const

/** One of {@link ALGORITHMS}. */
export type Algorithm = (typeof ALGORITHMS)[number]

const audience = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])

/** A key that verifies (and, with a private key or secret, signs) stoa's own tokens. */
const serviceKey = {
  /** HS256 shared secret, at least 32 characters. */
  secret: z.string().min(32, 'must be at least 32 characters').optional(),
  /** PEM public key (RSA or EC P-256) that verifies. */
  publicKey: z.string().min(1).optional(),
}

/**
 * Options of the jwt plugin. User tokens are verified with `secret`, `publicKey` or the keys of
 * `jwksUri` (by `kid`); at least one must be given, here or through the environment
 * ({@link fromEnvironment}). `system` and `delegation` configure stoa's own token kinds.
 */
export const jwtOptions = z.strictObject({
  /** HS256 shared secret of user tokens, at least 32 characters; `JWT_SECRET` when not given. */
  secret: z.string().min(32, 'must be at least 32 characters').optional(),
  /** PEM public key (RSA or EC P-256) of user tokens; `JWT_PUBLIC_KEY` when not given. */
  publicKey: z.string().min(1).optional(),
  /** JWKS URL (Auth0, Cognito, Keycloak): user tokens name their key by `kid`. */
  jwksUri: z.url({ protocol: /^https?$/ }).optional(),
  /** Fetched keys are kept this long, then fetched again when next needed: 10 minutes. */
  jwksCacheMs: z
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000),
  /** An unknown `kid` refetches the JWKS at most once per this interval: 1 minute. */
  jwksRefetchMs: z.number().int().min(0).default(60_000),
  /** A JWKS fetch gives up after this long: 5 s. */
  jwksTimeoutMs: z.number().int().min(1).default(5000),
  /** Algorithms accepted for user tokens; default: every one the configured keys can verify. */
  algorithms: z.array(z.enum(ALGORITHMS)).min(1).optional(),
  /** Required `iss` of user tokens (one of these), when given. */
  issuer: audience.optional(),
  /** Required `aud` of user tokens (one of these): this service's audience, when given. */
  audience: audience.optional(),
  /** Leeway for `exp` and `nbf` against clocks that disagree, seconds: 5. */
  clockToleranceSec: z.number().int().min(0).max(300).default(5),
  /** Tokens longer than this are refused before anything parses them: 8 KiB. */
  maxTokenBytes: z.number().int().min(256).max(65_536).default(8192),
  /**
   * Where a user token holds its global roles, a dotted path: `roles` (the default, and what
   * `signToken` writes), `realm_access.roles` (Keycloak), `cognito:groups` (Cognito).
   */
  rolesClaim: z.string().min(1).default('roles'),
  /** Verified tokens remembered, so a token seen again is not verified again: 1000; 0 turns it off. */
  cacheSize: z.number().int().min(0).default(1000),
  /** How long a verified token is remembered (never past its `exp`), ms: 30 s. */
  cacheMs: z.number().int().min(0).default(30_000),
  /**
   * The `system` identity: tokens the operator signs (see `signSystemToken`) with this key, for
   * this audience and typed `stoa-system+jwt`. Absent: no system token is accepted.
   */
  system: z
    .strictObject({
      ...serviceKey,
      /** The audience of system tokens; never a user token's. */
      audience: z.string().min(1).default('stoa:system'),
    })
    .optional(),
  /**
   * Delegation: a task leaving this service with a user's token travels instead with a token
   * this service signs for the same user and roles (`act: { sub: <service> }`), bound to that
   * one message, valid `ttlMs`; so a task that waits in a queue longer than the user's token
   * lives still runs for the user. A service with `secret` or `privateKey` signs them; one with
   * `secret` or `publicKey` accepts them. Absent: tasks carry the user's token as it is.
   */
  delegation: z
    .strictObject({
      ...serviceKey,
      /** PEM private key (RSA or EC P-256) that signs. */
      privateKey: z.string().min(1).optional(),
      /** The audience of delegation tokens. */
      audience: z.string().min(1).default('stoa:delegation'),
      /** How long a delegation token is valid: how long a task may wait, ms: 24 h. */
      ttlMs: z
        .number()
        .int()
        .min(1000)
        .max(7 * 24 * 3600_000)
        .default(24 * 3600_000),
    })
    .optional(),
})

/** Options of the jwt plugin as `use(jwt, options)` takes them. */
export type JwtOptions = z.input<typeof jwtOptions>

/** The options once validated, defaults filled in. */
export type ResolvedJwtOptions = Readonly<z.output<typeof jwtOptions>>

/**
 * The environment fallbacks, read here and nowhere else: `JWT_SECRET` supplies `secret` and
 * `JWT_PUBLIC_KEY` supplies `publicKey` when the options give neither key. (A PEM in an
 * environment variable may have its line breaks written as `\n`.)
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): { secret?: string; publicKey?: string } {
  const out: { secret?: string; publicKey?: string } = {}
  if (env.JWT_SECRET !== undefined && env.JWT_SECRET !== '') out.secret = env.JWT_SECRET
  if (env.JWT_PUBLIC_KEY !== undefined && env.JWT_PUBLIC_KEY !== '')
    out.publicKey = env.JWT_PUBLIC_KEY.replace(/\\n/g, '\n')
  return out
}
