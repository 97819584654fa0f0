import { randomBytes } from 'node:crypto'
import type { Service } from 'stoa'
import { definePlugin, defineService, StoaError } from 'stoa'

/** Where the vote system finds its servers and secrets. */
export interface VoteConfig {
  /** PostgreSQL of the distributed mode: `DATABASE_URL`, default database `vote` on the local server. */
  databaseUrl: string
  /** RabbitMQ of the distributed mode: `AMQP_URL`, default the local broker. */
  amqpUrl: string
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
  const port = env.PORT === undefined || env.PORT === '' ? undefined : Number(env.PORT)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new Error(`PORT must be a port number, not "${env.PORT}"`)
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/vote',
    amqpUrl: env.AMQP_URL || 'amqp://127.0.0.1:5672',
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
 * The service `build` makes from the environment, or, when the environment lacks what it needs
 * (`JWT_SECRET`), a service of the same name that refuses to start with that error. A service
 * module's default export is made when the module is imported, also by the embedded demo that
 * only wants its factory: failing at import would stop the demo, failing at start stops only
 * `stoa serve`.
 *
 * @example
 * export default serviceFromEnvironment('auth', (config) => authService(config.jwtSecret))
 */
export function serviceFromEnvironment(name: string, build: (config: VoteConfig) => Service): Service {
  try {
    return build(fromEnvironment())
  } catch (err) {
    if (!(err instanceof StoaError)) throw err
    const refusal = definePlugin({
      name: 'environment',
      init: () => {
        throw err
      },
    })
    return defineService({ name, plugins: [refusal] })
  }
}

function missingSecret(): StoaError {
  return new StoaError(
    'INVALID_OPTIONS',
    'JWT_SECRET is not set: the auth service and every gateway must share one HS256 secret of at least 32 characters ' +
      '(npm run vote:cluster passes one to each process; only npm start makes one up)',
    { fields: ['JWT_SECRET'] },
  )
}
