import { defineService } from 'stoa'
import { fromEnvironment } from '../config.js'
import { results } from '../results.js'
import { createPgStore } from '../store/db.js'
import type { SharedStore } from '../store/shared.js'
import { sharedStore } from '../store/shared.js'

/** The results service reading a given store. */
export function resultsService(store: SharedStore) {
  return defineService({ name: 'results', plugins: [[results, { store }]] })
}

/** The results service on PostgreSQL (`DATABASE_URL`), as `stoa serve` runs it. */
export default resultsService(sharedStore(() => createPgStore(fromEnvironment().databaseUrl, 4)))
