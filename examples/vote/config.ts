import { randomBytes } from 'node:crypto'
import { StoaError, secret } from 'stoa'
import { z } from 'zod'

/** Where the vote system finds its servers and secrets. */
export interface VoteConfig {
  /** PostgreSQL of the distributed mode: `DATABASE_URL`, default database `vote` on the local server. */
  databaseUrl: string
  /** RabbitMQ of the distributed mode: `AMQP_URL`, default the local broker. */
  amqpUrl: string
  /**
   * RabbitMQ queue type of the distributed mode: `VOTE_QUEUE_TYPE`, `quorum` (default:
   * replicated, for a RabbitMQ cluster; one node works too) or `classic`.
   */
  queueType: 'classic' | 'quorum'
  /** The message broker of the distributed mode: `VOTE_BROKER`, `amqp` (default) or `nats`. */
  broker: 'amqp' | 'nats'
  /** NATS with JetStream, when `broker` is `nats`: `NATS_URL`, default the local server. */
  natsUrl: string
  /** First segment of every queue and exchange name: `VOTE_PREFIX`, default `vote`. */
  prefix: string
  /**
   * HS256 secret of voters' tokens: `JWT_SECRET`. Reading it throws `INVALID_OPTIONS` naming the
   * variable when it is unset, unless a secret was generated (`generateSecret`, the embedded demo).
   */
  readonly jwtSecret: string
  /** Whether `jwtSecret` was generated because `JWT_SECRET` was unset: print it. */
  generated: boolean
  /** HTTP port of the embedded demo or of one gateway: `PORT`. */
  port: number | undefined
  /** The embedded demo's PGlite directory: `VOTE_DATA_DIR`, default `.vote-data`. */
  dataDir: string
  /**
   * Redis where the gateways count their rate limits, shared by all of them: `REDIS_URL`;
   * unset, each gateway counts in its own memory.
   */
  redisUrl: string | undefined
}

/** How {@link fromEnvironment} treats a missing `JWT_SECRET`. */
export interface ConfigOptions {
  /**
   * Make a random secret when `JWT_SECRET` is unset. Only for the embedded demo, whose services
   * share one process: separate processes each making their own would silently reject each
   * other's tokens.
   */
  generateSecret?: boolean
}

/**
 * Reads the vote system's environment, here and nowhere else.
 *
 * @example
 * const config = fromEnvironment(process.env, { generateSecret: true })
 * if (config.generated) console.log(`JWT_SECRET=${config.jwtSecret}`)
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env, options: ConfigOptions = {}): VoteConfig {
  const given = env.JWT_SECRET
  const missing = given === undefined || given === ''
  const generated = missing && options.generateSecret === true
  const secret = generated ? randomBytes(32).toString('base64url') : given
  const broker = env.VOTE_BROKER || 'amqp'
  if (broker !== 'amqp' && broker !== 'nats') throw new Error(`VOTE_BROKER must be amqp or nats, not "${broker}"`)
  const queueType = env.VOTE_QUEUE_TYPE || 'quorum'
  if (queueType !== 'classic' && queueType !== 'quorum')
    throw new Error(`VOTE_QUEUE_TYPE must be classic or quorum, not "${queueType}"`)
  const port = env.PORT === undefined || env.PORT === '' ? undefined : Number(env.PORT)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new Error(`PORT must be a port number, not "${env.PORT}"`)
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/vote',
    amqpUrl: env.AMQP_URL || 'amqp://127.0.0.1:5672',
    queueType,
    broker,
    natsUrl: env.NATS_URL || 'nats://127.0.0.1:4222',
    prefix: env.VOTE_PREFIX || 'vote',
    // A getter, so that the services which never sign or verify a token start without it.
    get jwtSecret(): string {
      if (secret === undefined || secret === '') throw missingSecret()
      return secret
    },
    generated,
    port,
    dataDir: env.VOTE_DATA_DIR || '.vote-data',
    redisUrl: env.REDIS_URL || undefined,
  }
}

/**
 * The settings of the distributed services, as they declare them (`defineService({ config })`):
 * `stoa serve` reads each from the environment or from `<NAME>_FILE` (a Docker or Kubernetes
 * secret), logs them with the secret redacted, and stops before it takes work, naming the
 * variable, when one is missing or invalid. `stoa config examples/vote/services/auth.ts` shows
 * what a service would resolve.
 */
export const settings = {
  /** HS256 secret the auth service signs with and every gateway verifies with: no default. */
  JWT_SECRET: secret(z.string().min(32, 'must be at least 32 characters, shared by auth and every gateway')),
  /** PostgreSQL of the tally and the results. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/vote'),
  /** The most votes a tally worker commits in one transaction; 1 commits each alone. */
  TALLY_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(100),
  /** A Redis every gateway keeps its rate-limit budgets in; unset, each gateway counts alone. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
} as const

function missingSecret(): StoaError {
  return new StoaError(
    'INVALID_OPTIONS',
    'JWT_SECRET is not set: the auth service and every gateway must share one HS256 secret of at least 32 characters ' +
      '(npm run vote:cluster passes one to each process; only npm start makes one up)',
    { fields: ['JWT_SECRET'] },
  )
}
