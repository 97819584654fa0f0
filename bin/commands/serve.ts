import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import type { Logger, Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import { listenOn } from '../../actions/transport.js'
import type { PinoLevel } from '../../plugins/logs/index.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { isStoaErrorLike } from '../output.js'
import { amqpUrl, hostPort, serveNats, shownUrl } from '../remote.js'
import { UsageError } from '../usage.js'
import { boolFlag, stringFlag } from './shared.js'

/** Something serve started beside the instance and stops before closing it. */
interface Front {
  readonly url: string
  close(): Promise<void>
}

/**
 * `stoa serve <service>`: starts the service on the transports asked for, prints
 * `<service> listening on <url>` for each, and runs until the stop signal (SIGTERM, SIGINT);
 * then it stops taking requests, lets the work in flight finish, closes and returns 0.
 * Each transport is imported only when its flag asks for it.
 *
 * @example
 * await serve({ positionals: ['./math.ts'], values: { http: '127.0.0.1:0' } }, io)
 */
export async function serve(args: Args, io: Io): Promise<number> {
  const [path, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const httpText = stringFlag(args, 'http')
  const amqpText = stringFlag(args, 'amqp')
  const natsText = stringFlag(args, 'nats')
  const webText = stringFlag(args, 'web')
  const healthText = stringFlag(args, 'health')
  const http = httpText === undefined ? undefined : hostPort(httpText, '--http')
  const web = webText === undefined ? undefined : hostPort(webText, '--web')
  const probes = healthText === undefined ? undefined : hostPort(healthText, '--health')
  if (http === undefined && amqpText === undefined && natsText === undefined && web === undefined) {
    throw new UsageError('serve needs at least one of --http, --amqp, --nats, --web')
  }
  const graceMs = msFlag(args, 'grace-ms')
  const drainDelayMs = msFlag(args, 'drain-delay-ms') ?? 0
  const tls = await tlsFiles(stringFlag(args, 'tls-key'), stringFlag(args, 'tls-cert'), http !== undefined, io.cwd)
  const amqp = amqpText === undefined ? undefined : amqpUrl(amqpText, undefined)
  if (amqp?.target !== undefined) {
    throw new UsageError('?service= names a service to call; serve takes the name from the service module or --name')
  }

  const metricsText = stringFlag(args, 'metrics')
  const metricsAt = metricsText === undefined ? undefined : hostPort(metricsText, '--metrics')

  // A long-running service logs through pino: JSON lines on stderr, readable ones with --pretty
  // or on a terminal; the level from LOG_LEVEL (info by default), debug with --verbose.
  const logger = await serviceLogger(args, io)
  const stoa = await loadService(path, { cwd: io.cwd, name: stringFlag(args, 'name'), logger, graceMs })
  // With the metrics plugin loaded, every listener serves GET /metrics and the AMQP transport
  // reports what it alone sees.
  const observed = stoa.has('role:metrics,cmd:scrape') ? await import('../../plugins/metrics/index.js') : undefined
  if (metricsAt !== undefined && observed === undefined) {
    await stoa.close()
    throw new UsageError(`service "${stoa.name}" loads no metrics plugin: --metrics would serve nothing`)
  }
  // Ask for the signal before starting, so a SIGTERM that arrives during startup still closes
  // gracefully instead of killing the process halfway.
  const stop = io.stopSignal()
  const addresses: (() => string)[] = []
  let front: Front | undefined
  let probeServer: Front | undefined
  try {
    if (web !== undefined && !stoa.has('role:web,cmd:routes')) {
      throw new UsageError(`service "${stoa.name}" loads no web plugin: --web would serve no routes`)
    }
    const { default: health, serveHealth } = await import('../../plugins/health/index.js')
    useHealth(stoa, health, web !== undefined)
    // Readiness drops the moment the signal arrives, before anything stops: a load balancer
    // polling /readyz stops sending while the service still answers.
    stoa.addCheck('signal', () => {
      if (stop.aborted)
        throw new Error(`${typeof stop.reason === 'string' ? stop.reason : 'stop signal'} received: shutting down`)
    })
    if (probes !== undefined) {
      probeServer = await serveHealth(stoa, probes).catch((err: unknown) => {
        throw startFailure(err, `the health server on ${healthText}`)
      })
    }
    if (http !== undefined) {
      const { createHttpTransport } = await import('../../transports/http/index.js')
      const endpoints: Record<string, (req: IncomingMessage, res: ServerResponse) => void> =
        observed === undefined ? {} : { '/metrics': observed.metricsEndpoint(stoa) }
      const transport = createHttpTransport({
        host: http.host,
        port: http.port,
        endpoints,
        ...(tls === undefined ? {} : { tls }),
      })
      stoa.listen(transport)
      addresses.push(() => transport.address() ?? `http://${http.host}:${http.port}`)
    }
    if (amqp !== undefined) {
      const { createAmqpTransport } = await import('../../transports/amqp/index.js')
      // Listening takes the service's requests, tasks and events; the client side carries the
      // tasks and events it sends to the other services on the broker.
      const observer = observed === undefined ? {} : { observer: observed.transportObserver(stoa, 'amqp') }
      const transport = createAmqpTransport({ ...amqp, ...observer, ...(graceMs === undefined ? {} : { graceMs }) })
      stoa.listen(transport).client(transport)
    }
    if (natsText !== undefined) {
      const shown = await serveNats(stoa, natsText, graceMs)
      addresses.push(() => shown)
    }
    // Without a broker there is no client transport, and the kernel delivers the service's own
    // tasks and events in process: nothing more to wire.
    await started(stoa)
    if (web !== undefined) {
      front = await webFront(stoa, web, observed).catch((err: unknown) => {
        throw startFailure(err, `the web server on ${webText}`)
      })
    }
    if (metricsAt !== undefined && observed !== undefined) {
      const alone = await metricsFront(metricsAt, observed.metricsEndpoint(stoa)).catch((err: unknown) => {
        throw startFailure(err, `the metrics server on ${metricsText}`)
      })
      const web = front
      front =
        web === undefined
          ? alone
          : { url: web.url, close: async () => void (await Promise.all([web.close(), alone.close()])) }
      addresses.push(() => `${alone.url}/metrics`)
    }
  } catch (err) {
    await front?.close()
    await probeServer?.close()
    await stoa.close()
    throw err
  }
  const urls = [
    ...addresses.map((f) => f()),
    ...(amqp === undefined ? [] : [shownUrl(amqp.url)]),
    ...(front === undefined ? [] : [front.url]),
  ]
  for (const url of urls) io.stdout.write(`${stoa.name} listening on ${url}\n`)
  if (probeServer !== undefined) io.stdout.write(`${stoa.name} health on ${probeServer.url}\n`)
  await aborted(stop)
  io.stderr.write(`${stoa.name} closing${typeof stop.reason === 'string' ? ` on ${stop.reason}` : ''}\n`)
  // SIGTERM comes from an orchestrator, which needs a moment to see /readyz fail and route
  // around this instance; SIGINT is someone at a terminal, who wants it gone.
  if (drainDelayMs > 0 && stop.reason === 'SIGTERM') await delay(drainDelayMs)
  // The web server stops accepting while the instance stops its transports and drains the work
  // in flight (web requests included); a web request stuck past the grace period is not waited for.
  const grace = graceMs ?? DEFAULT_GRACE_MS
  await Promise.all([
    front === undefined ? undefined : Promise.race([front.close(), delay(grace + 1000)]),
    stoa.close(),
  ])
  await probeServer?.close()
  return 0
}

/** The kernel's own default grace period, for bounding the web server's close the same way. */
const DEFAULT_GRACE_MS = 10_000

/**
 * Loads the health plugin for `/readyz` and `role:health,cmd:ready`, unless the service loaded
 * it itself (then with its own options).
 */
function useHealth(stoa: Stoa, health: unknown, web: boolean): void {
  try {
    ;(stoa.use as (plugin: unknown, options?: unknown) => unknown)(health, { web })
  } catch (err) {
    if (
      isStoaErrorLike(err) &&
      err.code === 'INVALID_PLUGIN' &&
      (err as { details?: { plugin?: unknown } }).details?.plugin === 'health'
    )
      return
    throw err
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/** A duration flag in ms: a non-negative integer. */
function msFlag(args: Args, name: string): number | undefined {
  const text = stringFlag(args, name)
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} takes a whole number of milliseconds, not "${text}"`)
  return Number(text)
}

/**
 * Starts the instance. A transport that fails with anything but a stoa error (a port in use,
 * say) is reported as `UNAVAILABLE` with the system's own words: it is this machine's user who
 * reads them, and they say what to fix.
 */
async function started(stoa: Stoa): Promise<void> {
  try {
    await stoa.ready()
  } catch (err) {
    throw startFailure(err, `service "${stoa.name}"`)
  }
}

function startFailure(err: unknown, what: string): unknown {
  if (isStoaErrorLike(err)) return err
  return new StoaError(
    'UNAVAILABLE',
    `${what} failed to start: ${err instanceof Error ? err.message : String(err)}`,
    undefined,
    { cause: err },
  )
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/**
 * The key and certificate files of `--tls-key` and `--tls-cert`, read. Both or neither, and
 * only with `--http`; a file that cannot be read is a usage error naming its flag.
 */
async function tlsFiles(
  key: string | undefined,
  cert: string | undefined,
  http: boolean,
  cwd: string,
): Promise<{ key: Buffer; cert: Buffer } | undefined> {
  if (key === undefined && cert === undefined) return undefined
  if (key === undefined || cert === undefined) throw new UsageError('--tls-key and --tls-cert go together')
  if (!http) throw new UsageError('--tls-key and --tls-cert serve --http over HTTPS: give --http too')
  const read = (file: string, flag: string) =>
    readFile(resolve(cwd, file)).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`${flag}: cannot read "${file}" (${err.code ?? err.message})`)
    })
  const [k, c] = await Promise.all([read(key, '--tls-key'), read(cert, '--tls-cert')])
  return { key: k, cert: c }
}

/** The pino logger of a long-running service. */
async function serviceLogger(args: Args, io: Io): Promise<Logger> {
  const { createPinoLogger, logOptionsFromEnvironment } = await import('../../plugins/logs/index.js')
  let fromEnv: { level?: PinoLevel }
  try {
    fromEnv = logOptionsFromEnvironment(io.env)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return createPinoLogger({
    level: boolFlag(args, 'verbose') ? 'debug' : (fromEnv.level ?? 'info'),
    pretty: boolFlag(args, 'pretty') || io.stderr.isTTY === true,
    destination: io.stderr,
  })
}

/**
 * The web server: the web plugin's routes; with the metrics plugin, `GET /metrics` too, and
 * every response counted by route and status. Both run as `before` middleware, so stoa's routes
 * stay on serveWeb's node:http path.
 */
async function webFront(
  stoa: Stoa,
  at: { host: string; port: number },
  observed: typeof import('../../plugins/metrics/index.js') | undefined,
): Promise<Front> {
  const { serveWeb, webRoutes } = await import('../../plugins/web/index.js')
  if (observed === undefined) return serveWeb(stoa, at)
  return serveWeb(stoa, { ...at, before: [observed.webMetrics(stoa, await webRoutes(stoa))] })
}

/** `--metrics host:port`: `GET /metrics` alone, for a worker that has no other HTTP listener. */
async function metricsFront(
  at: { host: string; port: number },
  endpoint: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Front> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) return endpoint(req, res)
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; GET /metrics\n')
  })
  const address = await listenOn(server, at.port, at.host)
  return {
    url: `http://${address}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
