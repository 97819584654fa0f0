import { defineService } from 'stoa'
import type { PostgresOptions } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { settings } from '../config.js'
import { MIGRATIONS } from '../store/schema.js'
import { TALLY_BATCH, tally } from '../tally.js'

/**
 * The tally worker on its database: the postgres plugin with `state` (`url` for PostgreSQL,
 * `dataDir` for PGlite) and the tally's migrations, then the tally itself.
 */
export function tallyService(state: Omit<PostgresOptions, 'migrations'>) {
  return defineService({ name: 'tally', plugins: tallyPlugins(state, TALLY_BATCH.max) })
}

function tallyPlugins(state: Omit<PostgresOptions, 'migrations'>, batchMax: number) {
  const options: PostgresOptions = { ...state, migrations: [...MIGRATIONS] }
  return [
    [postgres, options],
    [tally, { batchMax }],
  ] as const
}

/**
 * The tally worker on PostgreSQL (`DATABASE_URL`, or `DATABASE_URL_FILE`), as `stoa serve` runs it:
 * `stoa serve examples/vote/services/tally.ts --amqp 'amqp://127.0.0.1?prefix=vote'`. The
 * database is opened when the service starts, not when this module loads.
 */
export default defineService({
  name: 'tally',
  config: { DATABASE_URL: settings.DATABASE_URL, TALLY_BATCH_MAX: settings.TALLY_BATCH_MAX },
  plugins: (config) => tallyPlugins({ url: config.DATABASE_URL }, config.TALLY_BATCH_MAX),
})
