import { randomBytes } from 'node:crypto'

/** Where the vote system finds its servers and secrets. */
export interface VoteConfig {
  /** PostgreSQL of the distributed mode: `DATABASE_URL`, default database `vote` on the local server. */
  databaseUrl: string
  /** RabbitMQ of the distributed mode: `AMQP_URL`, default the local broker. */
  amqpUrl: string
  /** First segment of every queue and exchange name: `VOTE_PREFIX`, default `vote`. */
  prefix: string
  /** HS256 secret of voters' tokens: `JWT_SECRET`; a random one when unset (see `generated`). */
  jwtSecret: string
  /** Whether `jwtSecret` was generated because `JWT_SECRET` was unset: print it. */
  generated: boolean
  /** HTTP port of the embedded demo or of one gateway: `PORT`. */
  port: number | undefined
  /** The embedded demo's PGlite directory: `VOTE_DATA_DIR`, default `.vote-data`. */
  dataDir: string
}

/**
 * Reads the vote system's environment, here and nowhere else.
 *
 * @example
 * const config = fromEnvironment()
 * if (config.generated) console.log(`JWT_SECRET=${config.jwtSecret}`)
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): VoteConfig {
  const given = env.JWT_SECRET
  const generated = given === undefined || given === ''
  const port = env.PORT === undefined || env.PORT === '' ? undefined : Number(env.PORT)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new Error(`PORT must be a port number, not "${env.PORT}"`)
  return {
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/vote',
    amqpUrl: env.AMQP_URL || 'amqp://127.0.0.1:5672',
    prefix: env.VOTE_PREFIX || 'vote',
    jwtSecret: generated ? randomBytes(32).toString('base64url') : given,
    generated,
    port,
    dataDir: env.VOTE_DATA_DIR || '.vote-data',
  }
}
