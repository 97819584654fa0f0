/**
 * The metrics plugin: Prometheus metrics through prom-client. Calls handled here by pattern,
 * kind and outcome, with durations and the calls in flight; calls made through client
 * transports; what a transport reports through an observer (deliveries received, retried and
 * dead-lettered, reconnections, publish confirms); web responses by route and status; process
 * and event-loop metrics. `GET /metrics` serves them in Prometheus' text format.
 *
 * @module stoa/metrics
 */

import { performance } from 'node:perf_hooks'
import type {
  ActionInfo,
  Context,
  Deliver,
  Hooks,
  Message,
  NodeHandler,
  NodeMiddleware,
  RunAction,
  Stoa,
  TransportObserver,
} from '../../actions/index.js'
import { definePlugin, runNext, StoaError } from '../../actions/index.js'
import type { Envelope } from '../../actions/transport.js'
import { createMatcher, loadPeer } from '../../actions/transport.js'
import type { ActionStats } from './call-stats.js'
import { metricsOptions } from './options.js'
import type { CallKind, InFlight } from './registry.js'
import { StoaMetrics } from './registry.js'
import { Sampler } from './sampler.js'

export type { NodeHandler } from '../../actions/index.js'
export type { MetricsOptions } from './options.js'

/** The pattern of the action that answers a scrape. */
export const SCRAPE_PATTERN = 'role:metrics,cmd:scrape'

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
    // Only some calls are timed while the action is busy (see Sampler); an untimed call passes
    // -1 as its start and counts as the latest timed one.
    const sampler = new Sampler()
    // Made once per action: a call passes its start time, and its series is found again from
    // ctx.transport (a map lookup at most), so no closure is made per call.
    const ok = (out: unknown, _msg: Message, ctx: Context, start: number): unknown => {
      flight.n--
      const stats = statsOf(ctx.transport).ok
      if (start < 0) stats.addAs(sampler.bucket, sampler.seconds)
      else {
        const seconds = (performance.now() - start) / 1000
        sampler.bucket = stats.add(seconds)
        sampler.seconds = seconds
      }
      return out
    }
    const failed = (err: unknown, _msg: Message, ctx: Context, start: number): never => {
      flight.n--
      const stats = m.calls.failure(statsOf(ctx.transport), codeOf(err))
      if (start < 0) stats.addAs(sampler.bucket, sampler.seconds)
      else stats.add((performance.now() - start) / 1000)
      throw err
    }
    return (msg: Message, ctx: Context) => {
      flight.n++
      if (!sampler.timeThis()) return runNext(next, msg, ctx, -1, ok, failed)
      const start = performance.now()
      sampler.started(start)
      return runNext(next, msg, ctx, start, ok, failed)
    }
  }
}

function outbound(m: StoaMetrics): NonNullable<Hooks['outbound']> {
  return (next: Deliver, target): Deliver => {
    const transport = target.transport
    return (e: Envelope, ctx: Context | undefined) => {
      const start = performance.now()
      const record = (outcome: string) => {
        const prom = m.prom
        if (prom === undefined) return
        prom.remoteCalls.inc({ transport, kind: e.kind, name: e.name ?? '', outcome })
        prom.remoteSeconds.observe({ transport, kind: e.kind }, (performance.now() - start) / 1000)
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
 * What the metrics plugin gives for its loading in an instance (`stoa.handleOf(metrics)`): the
 * scrape endpoint, the middleware counting web responses, and an observer to give a transport
 * that is not started by the instance itself.
 */
export interface MetricsHandle {
  /** Answers `GET /metrics` with the Prometheus text format: for express or node:http. */
  readonly endpoint: NodeHandler
  /**
   * Counts the web responses of `routes` (the web plugin's table, from `webRoutes(stoa)`) by
   * route, as the route map writes it (`POST /votes/:id`), and status; a request no route
   * matches counts as `unmatched`, so a scan of random paths adds one series. Mount it before
   * the routes.
   */
  count(routes: readonly { method: string; path: string }[]): NodeMiddleware
  /** `count` and `endpoint` in one middleware, for serveWeb's `before` option. */
  web(routes: readonly { method: string; path: string }[]): NodeMiddleware
  /**
   * What a transport named `transport` reports, counted: the instance gives every transport
   * it listens or calls through this already. Reports made before the plugin started are not
   * counted.
   */
  observe(transport: string): Required<TransportObserver>
  /**
   * Adds a gauge that another plugin reads when Prometheus scrapes (`name` gets the prefix,
   * `stoa_`, and the `service` label): a database pool's connections, an outbox's depth. The
   * reader may be asynchronous; one that fails leaves the gauge empty for that scrape.
   */
  gauge(name: string, help: string, read: () => number | Promise<number>): void
}

/**
 * The metrics plugin. Load it early: calls are timed from its hook inward. Adds
 * `role:metrics,cmd:scrape`, answering `{ contentType, text }` (the Prometheus text format),
 * served as `GET /metrics` by its handle's `endpoint` (and by `stoa serve` on every HTTP server
 * it starts); every metric carries a `service` label. The transports of the instance report to
 * it by themselves.
 *
 * @example
 * const stoa = createStoa({ name: 'tally' }).use(metrics).use(tally)
 * app.get('/metrics', stoa.handleOf(metrics).endpoint)
 */
const metrics = definePlugin({
  name: 'metrics',
  options: metricsOptions,
  setup: (options, host) => {
    const m = new StoaMetrics(options)
    const scrape = async () => {
      const registry = m.prom?.registry
      if (registry === undefined) throw new StoaError('UNAVAILABLE', 'the metrics plugin has not started')
      return { contentType: registry.contentType, text: await registry.metrics() }
    }
    const endpoint = scrapeEndpoint(scrape)
    const count = (routes: readonly { method: string; path: string }[]) => countResponses(m, routes)
    const web = (routes: readonly { method: string; path: string }[]) => both(endpoint, count(routes))
    const handle: MetricsHandle = {
      endpoint,
      count,
      web,
      observe: (transport) => observer(m, transport),
      gauge: (name, help, read) => m.addGauge({ name, help, read }),
    }
    return {
      hooks: { inbound: inbound(m), outbound: outbound(m) },
      actions: {
        // Public: Prometheus scrapes with no identity, and the authz plugin needs every action
        // to say what it requires. The labels are bounded names, never a message's values.
        [SCRAPE_PATTERN]: { public: true, handler: scrape },
      },
      init: async () => {
        m.start(await loadPeer<typeof import('prom-client')>('prom-client', 'stoa/metrics'), host.name)
      },
      observe: handle.observe,
      http: { endpoints: { '/metrics': endpoint }, web },
      handle,
    }
  },
})

export default metrics

/** Counts a transport's reports into `m`, once its registry exists. */
function observer(m: StoaMetrics, transport: string): Required<TransportObserver> {
  return {
    received(kind) {
      m.prom?.received.inc({ transport, kind })
    },
    retried(kind) {
      m.prom?.retried.inc({ transport, kind })
    },
    deadLettered(kind, code) {
      m.prom?.deadLettered.inc({ transport, kind, code })
    },
    reconnected() {
      m.prom?.reconnects.inc({ transport })
    },
    confirmed(waitedMs, ok) {
      const prom = m.prom
      if (prom === undefined) return
      prom.confirms.inc({ transport, outcome: ok ? 'ok' : 'nack' })
      prom.confirmSeconds.observe({ transport }, waitedMs / 1000)
    },
  }
}

/** A scrape answered over HTTP: the text, or the error as JSON (404 for `NOT_FOUND`). */
function scrapeEndpoint(scrape: () => Promise<unknown>): NodeHandler {
  return (_req, res) => {
    scrape().then(
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

function countResponses(m: StoaMetrics, routes: readonly { method: string; path: string }[]): NodeMiddleware {
  const find = createMatcher(routes)
  // The route labels, written once: `POST /votes/:id` as the route map has it.
  const labels = new Map(routes.map((r) => [r, `${r.method} ${r.path}`]))
  return (req, res, next) => {
    const start = performance.now()
    // 'finish' comes once per response: a plain listener, without once()'s wrapper.
    res.on('finish', () => {
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
 * `GET /metrics` answered with the scrape, every other response counted. As serveWeb `before`
 * middleware it leaves stoa's routes on serveWeb's node:http path; an express app holding the
 * same two would send every request through express.
 */
function both(scrape: NodeHandler, count: NodeMiddleware): NodeMiddleware {
  return (req, res, next) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) === '/metrics' && (req.method === 'GET' || req.method === 'HEAD'))
      scrape(req, res)
    else count(req, res, next)
  }
}

/**
 * A handler answering a Prometheus scrape with the metrics of `stoa`, through its
 * `role:metrics,cmd:scrape` action (which may be remote): mount it as `GET /metrics` on an
 * express app, or give it to the HTTP transport's `endpoints` option.
 *
 * @example
 * app.get('/metrics', metricsEndpoint(stoa))
 */
export function metricsEndpoint(stoa: { act(pattern: string): Promise<unknown> }): NodeHandler {
  return scrapeEndpoint(() => stoa.act(SCRAPE_PATTERN))
}

/**
 * Express-style middleware counting the web responses of `routes` into the metrics of `stoa`
 * (which loads the metrics plugin): its handle's `count`.
 *
 * @example
 * app.use(httpMetrics(stoa, await webRoutes(stoa)))
 */
export function httpMetrics(stoa: Stoa<any>, routes: readonly { method: string; path: string }[]): NodeMiddleware {
  return stoa.handleOf(metrics).count(routes)
}

/**
 * Both web parts in one node-style middleware for `serveWeb`'s `before` option: its handle's
 * `web`.
 *
 * @example
 * await serveWeb(stoa, { port: 3000, before: [webMetrics(stoa, await webRoutes(stoa))] })
 */
export function webMetrics(stoa: Stoa<any>, routes: readonly { method: string; path: string }[]): NodeMiddleware {
  return stoa.handleOf(metrics).web(routes)
}
