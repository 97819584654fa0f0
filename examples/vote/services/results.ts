import { defineService } from 'stoa'
import { settings } from '../config.js'
import type { ResultsSource } from '../results.js'
import { results } from '../results.js'

/** The results service reading the tally's tables (`url`, or the tally's opened `database`). */
export function resultsService(source: ResultsSource) {
  return defineService({ name: 'results', plugins: [[results, source]] })
}

/** The results service on PostgreSQL (`DATABASE_URL`, or `DATABASE_URL_FILE`), as `stoa serve` runs it. */
export default defineService({
  name: 'results',
  config: { DATABASE_URL: settings.DATABASE_URL },
  plugins: (config) => [[results, { url: config.DATABASE_URL }]],
})
