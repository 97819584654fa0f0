import type { ServiceOptions } from 'stoa'
import { defineService } from 'stoa'
import { fromEnvironment } from '../config.js'
import { createPgStore } from '../store/db.js'
import type { SharedStore } from '../store/shared.js'
import { sharedStore } from '../store/shared.js'
import { tally } from '../tally.js'

/** The tally worker on a given store, with any plugins to load first (the embedded hand-over). */
export function tallyService(store: SharedStore, before: ServiceOptions['plugins'] = []) {
  return defineService({ name: 'tally', plugins: [...before, [tally, { store }]] })
}

/**
 * The tally worker on PostgreSQL (`DATABASE_URL`), as `stoa serve` runs it:
 * `stoa serve examples/vote/services/tally.ts --amqp 'amqp://127.0.0.1?prefix=vote'`. The
 * database is opened when the service starts, not when this module loads.
 */
export default tallyService(sharedStore(() => createPgStore(fromEnvironment().databaseUrl)))
