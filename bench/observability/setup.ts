import type { Stoa } from '../../actions/index.js'
import { createStoa } from '../../actions/index.js'
import logs, { createPinoLogger } from '../../plugins/logs/index.js'
import metrics from '../../plugins/metrics/index.js'
import tracing from '../../plugins/tracing/index.js'

/** A logger that writes nothing: the bare contestants' "all off". */
export const quiet = { error() {}, warn() {}, info() {}, debug() {} }

/**
 * A stoa instance with everything observability adds on, as a service would run it: pino at
 * `info` (its lines go to a sink, so the figures are stoa's, not the terminal's), the metrics
 * plugin, the logs plugin and the tracing plugin through the OpenTelemetry API with no SDK.
 * Bare, it has none of them and a logger that writes nothing.
 */
export function instance(observed: boolean): Stoa<any> {
  if (!observed) return createStoa({ name: 'bench', logger: quiet })
  const logger = createPinoLogger({ level: 'info', service: 'bench', destination: { write: () => true } })
  return createStoa({ name: 'bench', logger }).use(tracing).use(metrics).use(logs)
}
