import type { Counter, Histogram, Registry } from 'prom-client'
import { CallStats, HttpStats } from './call-stats.js'
import type { ResolvedMetricsOptions } from './options.js'

/** What kind of call an action serves: an act, a task handled, an event handled. */
export type CallKind = 'act' | 'task' | 'event'

/** The running calls of one action, counted without a label lookup per call. */
export interface InFlight {
  readonly pattern: string
  readonly kind: CallKind
  n: number
}

/**
 * The metrics of one loading of the plugin. What the call path counts is kept in plain numbers
 * from the start ({@link CallStats}, {@link HttpStats}); the prom-client registry that prints
 * them, and holds the transport and remote-call metrics, comes when the plugin starts
 * ({@link PromMetrics}), so prom-client is imported only by a service that loads the plugin.
 */
export class StoaMetrics {
  /** Calls handled here: kept in plain numbers on the call path, printed when scraped. */
  readonly calls: CallStats
  /** Web responses: kept in plain numbers per response, printed when scraped. */
  readonly http: HttpStats
  /** Every action's running calls, reported when scraped. */
  readonly inflight: InFlight[] = []
  /** Gauges other plugins added (a database pool, an outbox), read when scraped. */
  readonly gauges: ExtraGauge[] = []
  /** The registry and prom-client's own metrics: undefined until the plugin started. */
  prom: PromMetrics | undefined
  private readonly options: ResolvedMetricsOptions

  constructor(options: ResolvedMetricsOptions) {
    this.options = options
    this.calls = new CallStats([...options.buckets])
    this.http = new HttpStats([...options.buckets])
  }

  /** Makes the registry, with prom-client as loaded when the plugin starts. */
  start(prom: typeof import('prom-client'), service: string): PromMetrics {
    if (this.prom === undefined) {
      this.prom = new PromMetrics(prom, this, this.options, service)
      for (const g of this.gauges) this.prom.addGauge(g)
    }
    return this.prom
  }

  /** Adds a gauge another plugin reads: registered now if the registry exists, else at start. */
  addGauge(gauge: ExtraGauge): void {
    this.gauges.push(gauge)
    this.prom?.addGauge(gauge)
  }
}

/** A gauge another plugin adds through the handle: its name (without the prefix), help and reader. */
export interface ExtraGauge {
  readonly name: string
  readonly help: string
  read(): number | Promise<number>
}

/**
 * The prom-client side of one loading, in a registry of its own (never the global one: two
 * instances in a process keep their figures apart). Every label value is bounded: a pattern as
 * registered, a task or event name the code declares, an error code from the closed list, a
 * route as written in the route map.
 */
export class PromMetrics {
  readonly registry: Registry
  readonly remoteCalls: Counter<'transport' | 'kind' | 'name' | 'outcome'>
  readonly remoteSeconds: Histogram<'transport' | 'kind'>
  readonly received: Counter<'transport' | 'kind'>
  readonly retried: Counter<'transport' | 'kind'>
  readonly deadLettered: Counter<'transport' | 'kind' | 'code'>
  readonly reconnects: Counter<'transport'>
  readonly confirms: Counter<'transport' | 'outcome'>
  readonly confirmSeconds: Histogram<'transport'>
  private readonly prom: typeof import('prom-client')
  private readonly prefix: string

  constructor(
    prom: typeof import('prom-client'),
    plain: StoaMetrics,
    options: ResolvedMetricsOptions,
    service: string,
  ) {
    const { Counter, Gauge, Histogram, Registry } = prom
    this.prom = prom
    this.prefix = options.prefix
    this.registry = new Registry()
    this.registry.setDefaultLabels({ service })
    const p = options.prefix
    const registers = [this.registry]
    const buckets = [...options.buckets]
    for (const metric of plain.calls.metrics(p)) this.registry.registerMetric(metric as never)
    const inflight = plain.inflight
    new Gauge({
      name: `${p}calls_in_flight`,
      help: 'Calls running now, by pattern and kind',
      labelNames: ['pattern', 'kind'],
      registers,
      collect() {
        // An action wrapped again (a hook added later) leaves its old count at 0: sum them.
        this.reset()
        for (const f of inflight) this.inc({ pattern: f.pattern, kind: f.kind }, f.n)
      },
    })
    this.remoteCalls = new Counter({
      name: `${p}remote_calls_total`,
      help: 'Calls made through a client transport by transport, kind (act, send, emit), task or event name, and outcome',
      labelNames: ['transport', 'kind', 'name', 'outcome'],
      registers,
    })
    this.remoteSeconds = new Histogram({
      name: `${p}remote_call_duration_seconds`,
      help: 'Time until a remote act answered or a task or event was accepted',
      labelNames: ['transport', 'kind'],
      buckets,
      registers,
    })
    this.received = new Counter({
      name: `${p}transport_received_total`,
      help: 'Deliveries taken from a transport (acts, tasks as send, events as emit)',
      labelNames: ['transport', 'kind'],
      registers,
    })
    this.retried = new Counter({
      name: `${p}transport_retried_total`,
      help: 'Failed tasks and events sent to wait for another try',
      labelNames: ['transport', 'kind'],
      registers,
    })
    this.deadLettered = new Counter({
      name: `${p}transport_dead_lettered_total`,
      help: 'Tasks and events sent to the dead-letter queue, by the code of their last failure',
      labelNames: ['transport', 'kind', 'code'],
      registers,
    })
    this.reconnects = new Counter({
      name: `${p}transport_reconnects_total`,
      help: 'Broker connections opened again after being lost',
      labelNames: ['transport'],
      registers,
    })
    this.confirms = new Counter({
      name: `${p}transport_publish_confirms_total`,
      help: 'Publishes whose confirm was waited on, by outcome (ok, nack)',
      labelNames: ['transport', 'outcome'],
      registers,
    })
    this.confirmSeconds = new Histogram({
      name: `${p}transport_publish_confirm_seconds`,
      help: 'Time from publish to the broker confirm',
      labelNames: ['transport'],
      buckets,
      registers,
    })
    for (const metric of plain.http.metrics(p)) this.registry.registerMetric(metric as never)
    if (options.processMetrics) prom.collectDefaultMetrics({ register: this.registry })
  }

  /** Registers a gauge read at each scrape; a reader that fails leaves the gauge unset for that scrape. */
  addGauge(gauge: ExtraGauge): void {
    new this.prom.Gauge({
      name: `${this.prefix}${gauge.name}`,
      help: gauge.help,
      registers: [this.registry],
      async collect() {
        try {
          this.set(await gauge.read())
        } catch {
          this.reset()
        }
      },
    })
  }
}
