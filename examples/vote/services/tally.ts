import { defineService } from 'stoa'
import type { PostgresOptions } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { fromEnvironment } from '../config.js'
import { MIGRATIONS } from '../store/schema.js'
import { tally } from '../tally.js'

/**
 * The tally worker on its database: the postgres plugin with `state` (`url` for PostgreSQL,
 * `dataDir` for PGlite) and the tally's migrations, then the tally itself.
 */
export function tallyService(state: Omit<PostgresOptions, 'migrations'>) {
  return defineService({ name: 'tally', plugins: [[postgres, { ...state, migrations: [...MIGRATIONS] }], tally] })
}

/**
 * The tally worker on PostgreSQL (`DATABASE_URL`), as `stoa serve` runs it:
 * `stoa serve examples/vote/services/tally.ts --amqp 'amqp://127.0.0.1?prefix=vote'`. The
 * database is opened when the service starts, not when this module loads.
 */
export default tallyService({ url: fromEnvironment().databaseUrl })
