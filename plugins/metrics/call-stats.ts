/**
 * Counts and durations of calls kept in plain numbers on the call path, and handed to
 * prom-client's registry as a counter and a histogram when scraped. prom-client's own
 * `inc`/`observe` hash their labels on every call, which costs more than an in-process act:
 * here the labels are fixed once per action, and a call adds to a few numbers.
 */

/** The figures of one series: calls, their total time, and how many fell in each bucket. */
export class Stats {
  count = 0
  sumSeconds = 0
  /** Per bucket, not cumulative (the last slot is +Inf); made cumulative when scraped. */
  readonly inBucket: number[]
  private readonly bounds: readonly number[]

  constructor(bounds: readonly number[]) {
    this.bounds = bounds
    this.inBucket = new Array<number>(bounds.length + 1).fill(0)
  }

  /** Adds one call that took `seconds`; returns the bucket it fell in. */
  add(seconds: number): number {
    this.count++
    this.sumSeconds += seconds
    const b = this.bounds
    let i = 0
    while (i < b.length && seconds > b[i]!) i++
    this.inBucket[i]!++
    return i
  }

  /** Adds one call whose time was not read, counted as taking `seconds`, in bucket `bucket`. */
  addAs(bucket: number, seconds: number): void {
    this.count++
    this.sumSeconds += seconds
    this.inBucket[bucket]!++
  }
}

/** One action's series through one transport: its successes, and its failures by error code. */
export interface ActionStats {
  readonly pattern: string
  readonly kind: string
  /** The transport the calls came through, `local` for calls made in this process. */
  readonly transport: string
  readonly ok: Stats
  readonly failed: Map<string, Stats>
}

type Labels = Record<string, string>
interface Value {
  labels: Labels
  value: number
  metricName?: string
}

/** What prom-client's registry asks of a metric it prints. */
interface Collected {
  name: string
  help: string
  type: 'counter' | 'histogram'
  values: Value[]
  aggregator: 'sum'
}

/**
 * The calls of every action, as prom-client metrics: `<prefix>calls_total` and
 * `<prefix>call_duration_seconds`, labelled by pattern, kind, transport and outcome.
 */
export class CallStats {
  readonly actions: ActionStats[] = []
  private readonly bounds: readonly number[]

  constructor(bounds: readonly number[]) {
    this.bounds = bounds
  }

  /** The series of one action through one transport, registered when first needed. */
  action(pattern: string, kind: string, transport: string): ActionStats {
    const a: ActionStats = { pattern, kind, transport, ok: new Stats(this.bounds), failed: new Map() }
    this.actions.push(a)
    return a
  }

  /** A failure's series, made on its first occurrence. */
  failure(a: ActionStats, code: string): Stats {
    let s = a.failed.get(code)
    if (s === undefined) {
      s = new Stats(this.bounds)
      a.failed.set(code, s)
    }
    return s
  }

  /** Every series with its labels, merged where an action was wrapped more than once. */
  private series(): { labels: Labels; stats: Stats }[] {
    const merged = new Map<string, { labels: Labels; stats: Stats }>()
    const put = (a: ActionStats, outcome: string, s: Stats) => {
      if (s.count === 0) return
      const key = `${a.pattern}\u0000${a.kind}\u0000${a.transport}\u0000${outcome}`
      let m = merged.get(key)
      if (m === undefined) {
        m = {
          labels: { pattern: a.pattern, kind: a.kind, transport: a.transport, outcome },
          stats: new Stats(this.bounds),
        }
        merged.set(key, m)
      }
      merge(m.stats, s)
    }
    for (const a of this.actions) {
      put(a, 'ok', a.ok)
      for (const [code, s] of a.failed) put(a, code, s)
    }
    return [...merged.values()]
  }

  /** The two metrics, in the shape prom-client's `Registry.registerMetric` takes. */
  metrics(prefix: string): PlainMetric[] {
    const reset = () => {
      for (const a of this.actions) {
        a.failed.clear()
        Object.assign(a.ok, new Stats(this.bounds))
      }
    }
    const series = () => this.series()
    return [
      counterMetric(
        `${prefix}calls_total`,
        'Calls handled here (acts, tasks, events) by pattern, kind, transport and outcome (ok or the error code)',
        series,
        reset,
      ),
      histogramMetric(
        `${prefix}call_duration_seconds`,
        'Time to handle a call, hooks and validation included',
        this.bounds,
        series,
        reset,
      ),
    ]
  }
}

/**
 * Web responses by route and status, kept in plain numbers per response and printed when
 * scraped: `<prefix>http_responses_total` by route and status, and
 * `<prefix>http_request_duration_seconds` by route.
 */
export class HttpStats {
  private readonly routes = new Map<string, Map<number, Stats>>()
  private readonly bounds: readonly number[]

  constructor(bounds: readonly number[]) {
    this.bounds = bounds
  }

  /** Adds one response of `route` with `status` that took `seconds`. */
  add(route: string, status: number, seconds: number): void {
    let byStatus = this.routes.get(route)
    if (byStatus === undefined) {
      byStatus = new Map()
      this.routes.set(route, byStatus)
    }
    let s = byStatus.get(status)
    if (s === undefined) {
      s = new Stats(this.bounds)
      byStatus.set(status, s)
    }
    s.add(seconds)
  }

  /** The two metrics, in the shape prom-client's `Registry.registerMetric` takes. */
  metrics(prefix: string): PlainMetric[] {
    const reset = () => this.routes.clear()
    const byStatus = () => {
      const out: Series[] = []
      for (const [route, statuses] of this.routes)
        for (const [status, stats] of statuses) out.push({ labels: { route, status: String(status) }, stats })
      return out
    }
    const byRoute = () => {
      const out: Series[] = []
      for (const [route, statuses] of this.routes) {
        const stats = new Stats(this.bounds)
        for (const s of statuses.values()) merge(stats, s)
        out.push({ labels: { route }, stats })
      }
      return out
    }
    return [
      counterMetric(
        `${prefix}http_responses_total`,
        'Web responses by route (as in the route map, or "unmatched") and status',
        byStatus,
        reset,
      ),
      histogramMetric(
        `${prefix}http_request_duration_seconds`,
        'Time from a web request to its response being written',
        this.bounds,
        byRoute,
        reset,
      ),
    ]
  }
}

/** One labelled series kept in plain numbers. */
interface Series {
  labels: Labels
  stats: Stats
}

/** A metric as prom-client's `Registry.registerMetric` takes it. */
export interface PlainMetric {
  name: string
  help: string
  get(): Collected
  reset(): void
}

function merge(into: Stats, s: Stats): void {
  into.count += s.count
  into.sumSeconds += s.sumSeconds
  for (let i = 0; i < s.inBucket.length; i++) into.inBucket[i]! += s.inBucket[i]!
}

/** A counter printing each series' count. */
function counterMetric(name: string, help: string, series: () => Series[], reset: () => void): PlainMetric {
  return {
    name,
    help,
    reset,
    get: () => ({
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      values: series().map((s) => ({ labels: s.labels, value: s.stats.count })),
    }),
  }
}

/** A histogram printing each series' cumulative buckets, sum and count. */
function histogramMetric(
  name: string,
  help: string,
  bounds: readonly number[],
  series: () => Series[],
  reset: () => void,
): PlainMetric {
  return {
    name,
    help,
    reset,
    get: () => {
      const values: Value[] = []
      for (const { labels, stats } of series()) {
        let cumulative = 0
        for (let i = 0; i < stats.inBucket.length; i++) {
          cumulative += stats.inBucket[i]!
          const le = i < bounds.length ? String(bounds[i]) : '+Inf'
          values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` })
        }
        values.push({ labels, value: stats.sumSeconds, metricName: `${name}_sum` })
        values.push({ labels, value: stats.count, metricName: `${name}_count` })
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values }
    },
  }
}
