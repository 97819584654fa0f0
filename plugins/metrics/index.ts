/**
 * The metrics plugin: Prometheus metrics through prom-client. Calls handled here by pattern,
 * kind and outcome, with durations and the calls in flight; calls made through client
 * transports; what a transport reports through an observer (deliveries received, retried and
 * dead-lettered, reconnections, publish confirms); web responses by route and status; process
 * and event-loop metrics. `GET /metrics` serves them in Prometheus' text format.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { ActionInfo, Context, Deliver, Hooks, Message, PluginHost, RunAction } from '../../actions/index.js'
import { definePlugin, StoaError } from '../../actions/index.js'
import type { Envelope } from '../../actions/transport.js'
import { createMatcher } from '../../actions/transport.js'
import type { ActionStats } from './call-stats.js'
import type { ResolvedMetricsOptions } from './options.js'
import { metricsOptions } from './options.js'
import type { CallKind, InFlight } from './registry.js'
import { StoaMetrics } from './registry.js'

export type { MetricsOptions } from './options.js'

/** The pattern of the action that answers a scrape. */
export const SCRAPE_PATTERN = 'role:metrics,cmd:scrape'

const byOptions = new WeakMap<object, StoaMetrics>()
const byKernel = new WeakMap<object, StoaMetrics>()

/** The metrics of one loading of the plugin, keyed by its validated (frozen) options. */
function metricsFor(options: ResolvedMetricsOptions): StoaMetrics {
  let m = byOptions.get(options)
  if (m === undefined) {
    m = new StoaMetrics(options)
    byOptions.set(options, m)
  }
  return m
}

/** The kind of call an action serves: subscribers are `event:<name>`, task handlers have `task`. */
function callKind(action: ActionInfo): CallKind {
  if (typeof action.pattern.task === 'string') return 'task'
  if (action.key.startsWith('event:') && Object.keys(action.pattern).length === 1) return 'event'
  return 'act'
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return err instanceof StoaError && typeof code === 'string' ? code : 'ACTION_FAILED'
}

function isThenable(v: unknown): v is Promise<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function'
}

function inbound(m: StoaMetrics): NonNullable<Hooks['inbound']> {
  return (next: RunAction, action: ActionInfo): RunAction => {
    const kind = callKind(action)
    const pattern = action.key
    const flight: InFlight = { pattern, kind, n: 0 }
    m.inflight.push(flight)
    // The series are found once, here (and once per transport a call first comes through); a
    // call only adds to numbers.
    const local = m.calls.action(pattern, kind, 'local')
    const through = new Map<string, ActionStats>()
    const statsOf = (transport: string | undefined): ActionStats => {
      if (transport === undefined) return local
      let s = through.get(transport)
      if (s === undefined) {
        s = m.calls.action(pattern, kind, transport)
        through.set(transport, s)
      }
      return s
    }
    const ok = (stats: ActionStats, start: number) => {
      flight.n--
      stats.ok.add((performance.now() - start) / 1000)
    }
    const failed = (stats: ActionStats, start: number, err: unknown) => {
      flight.n--
      m.calls.failure(stats, codeOf(err)).add((performance.now() - start) / 1000)
    }
    return (msg: Message, ctx: Context) => {
      const stats = statsOf(ctx.transport)
      const start = performance.now()
      flight.n++
      let out: unknown
      try {
        out = next(msg, ctx)
      } catch (err) {
        failed(stats, start, err)
        throw err
      }
      if (!isThenable(out)) {
        ok(stats, start)
        return out
      }
      return out.then(
        (v) => {
          ok(stats, start)
          return v
        },
        (err: unknown) => {
          failed(stats, start, err)
          throw err
        },
      )
    }
  }
}

function outbound(m: StoaMetrics): NonNullable<Hooks['outbound']> {
  return (next: Deliver, target): Deliver => {
    const transport = target.transport
    return (e: Envelope, ctx: Context | undefined) => {
      const start = performance.now()
      const record = (outcome: string) => {
        m.remoteCalls.inc({ transport, kind: e.kind, name: e.name ?? '', outcome })
        m.remoteSeconds.observe({ transport, kind: e.kind }, (performance.now() - start) / 1000)
      }
      return next(e, ctx).then(
        (reply) => {
          record(reply.ok ? 'ok' : reply.error.code)
          return reply
        },
        (err: unknown) => {
          record(codeOf(err))
          throw err
        },
      )
    }
  }
}

/**
 * The metrics plugin. Load it early: calls are timed from its hook inward. Adds
 * `role:metrics,cmd:scrape`, answering `{ contentType, text }` (the Prometheus text format),
 * which {@link metricsEndpoint} serves as `GET /metrics`; every metric carries a `service` label.
 *
 * @example
 * const stoa = createStoa({ name: 'tally' }).use(metrics).use(tally)
 */
const metrics = definePlugin({
  name: 'metrics',
  options: metricsOptions,
  hooks: (options) => {
    const m = metricsFor(options)
    return { inbound: inbound(m), outbound: outbound(m) }
  },
  actions: (options) => ({
    // Public: Prometheus scrapes with no identity, and the authz plugin needs every action to
    // say what it requires. The labels are bounded names, never a message's values.
    [SCRAPE_PATTERN]: {
      public: true,
      handler: async () => {
        const registry = metricsFor(options).registry
        return { contentType: registry.contentType, text: await registry.metrics() }
      },
    },
  }),
  init: (kernel: PluginHost, options) => {
    const m = metricsFor(options)
    m.registry.setDefaultLabels({ service: kernel.name })
    byKernel.set(kernel, m)
  },
})

export default metrics

/** A `(req, res)` handler for node:http or express. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * A handler answering a Prometheus scrape with the metrics of `stoa` (which must load the
 * metrics plugin): mount it as `GET /metrics` on an express app, or give it to the HTTP
 * transport's `endpoints` option. `stoa serve` does both.
 *
 * @example
 * app.get('/metrics', metricsEndpoint(stoa))
 */
export function metricsEndpoint(stoa: { act(pattern: string): Promise<unknown> }): NodeHandler {
  return (_req, res) => {
    stoa.act(SCRAPE_PATTERN).then(
      (out) => {
        const { contentType, text } = out as { contentType: string; text: string }
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
        res.end(text)
      },
      (err: unknown) => {
        const body = JSON.stringify({
          error: { code: codeOf(err), message: err instanceof StoaError ? err.message : 'metrics unavailable' },
        })
        res.writeHead(err instanceof StoaError && err.code === 'NOT_FOUND' ? 404 : 500, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        })
        res.end(body)
      },
    )
  }
}

/**
 * Express-style middleware counting the web responses of `routes` (the web plugin's table,
 * from `webRoutes(stoa)`) by route, as the route map writes it (`POST /votes/:id`), and status;
 * a request no route matches counts as `unmatched`, so a scan of random paths adds one series.
 * Mount it before the routes.
 *
 * @example
 * app.use(httpMetrics(stoa, await webRoutes(stoa)))
 */
export function httpMetrics(
  stoa: object,
  routes: readonly { method: string; path: string }[],
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const find = createMatcher(routes)
  // The route labels, written once: `POST /votes/:id` as the route map has it.
  const labels = new Map(routes.map((r) => [r, `${r.method} ${r.path}`]))
  return (req, res, next) => {
    const start = performance.now()
    // 'finish' comes once per response: a plain listener, without once()'s wrapper.
    res.on('finish', () => {
      const m = byKernel.get(stoa)
      if (m === undefined) return
      let route = 'unmatched'
      try {
        const url = req.url ?? '/'
        const q = url.indexOf('?')
        const hit = find(req.method ?? 'GET', q < 0 ? url : url.slice(0, q))
        if (hit !== undefined) route = labels.get(hit.route) ?? `${hit.route.method} ${hit.route.path}`
      } catch {
        // A path the matcher refuses is answered 400 by the web plugin: counted as unmatched.
      }
      m.http.add(route, res.statusCode, (performance.now() - start) / 1000)
    })
    next()
  }
}

/**
 * An observer for a transport's `observer` option (the AMQP transport's), counting what it
 * reports into the metrics of `stoa`. It may be made before `stoa` is ready; reports made
 * before the metrics plugin started are not counted.
 *
 * @example
 * stoa.listen(createAmqpTransport({ observer: transportObserver(stoa, 'amqp') }))
 */
export function transportObserver(stoa: object, transport: string) {
  return {
    received(kind: string): void {
      byKernel.get(stoa)?.received.inc({ transport, kind })
    },
    retried(kind: string): void {
      byKernel.get(stoa)?.retried.inc({ transport, kind })
    },
    deadLettered(kind: string, code: string): void {
      byKernel.get(stoa)?.deadLettered.inc({ transport, kind, code })
    },
    reconnected(): void {
      byKernel.get(stoa)?.reconnects.inc({ transport })
    },
    confirmed(waitedMs: number, ok: boolean): void {
      const m = byKernel.get(stoa)
      if (m === undefined) return
      m.confirms.inc({ transport, outcome: ok ? 'ok' : 'nack' })
      m.confirmSeconds.observe({ transport }, waitedMs / 1000)
    },
  }
}

/**
 * Both web parts in one node-style middleware for `serveWeb`'s `before` option: `GET /metrics`
 * answered with the scrape, every other response counted by route and status. As `before`
 * middleware it leaves stoa's routes on serveWeb's node:http path; an express app holding the
 * same two would send every request through express.
 *
 * @example
 * await serveWeb(stoa, { port: 3000, before: [webMetrics(stoa, await webRoutes(stoa))] })
 */
export function webMetrics(
  stoa: { act(pattern: string): Promise<unknown> },
  routes: readonly { method: string; path: string }[],
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const count = httpMetrics(stoa, routes)
  const scrape = metricsEndpoint(stoa)
  return (req, res, next) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) === '/metrics' && (req.method === 'GET' || req.method === 'HEAD'))
      scrape(req, res)
    else count(req, res, next)
  }
}
