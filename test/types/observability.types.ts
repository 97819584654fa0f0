// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, so the observability plugins' options are checked by the type system too.
import { createStoa } from '../../actions/index.js'
import logs, { createPinoLogger } from '../../plugins/logs/index.js'
import metrics from '../../plugins/metrics/index.js'
import tracing from '../../plugins/tracing/index.js'
import { createAmqpTransport } from '../../transports/amqp/index.js'

export function observabilityOptions(): void {
  const stoa = createStoa({ logger: createPinoLogger({ level: 'warn', secrets: ['apiKey'] }) })
  stoa
    .use(tracing)
    .use(metrics, { prefix: 'app_', buckets: [0.01, 0.1, 1] })
    .use(logs, { callLevel: 'info' })
  // @ts-expect-error the prefix is a string
  stoa.use(metrics, { prefix: 5 })
  // @ts-expect-error a level is one of pino's
  stoa.use(logs, { callLevel: 'loud' })
  // @ts-expect-error a logger's level is one of pino's
  createPinoLogger({ level: 'verbose' })
  createAmqpTransport({ observer: stoa.handleOf(metrics).observe('amqp') })
  // @ts-expect-error an observer's methods take what the transport reports
  createAmqpTransport({ observer: { received: (kind: number) => kind } })
}
