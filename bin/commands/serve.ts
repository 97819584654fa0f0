import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Stoa } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { isStoaErrorLike } from '../output.js'
import { amqpUrl, hostPort, shownUrl } from '../remote.js'
import { UsageError } from '../usage.js'
import { boolFlag, streamLogger, stringFlag } from './shared.js'

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
  const webText = stringFlag(args, 'web')
  const healthText = stringFlag(args, 'health')
  const http = httpText === undefined ? undefined : hostPort(httpText, '--http')
  const web = webText === undefined ? undefined : hostPort(webText, '--web')
  const probes = healthText === undefined ? undefined : hostPort(healthText, '--health')
  if (http === undefined && amqpText === undefined && web === undefined) {
    throw new UsageError('serve needs at least one of --http, --amqp, --web')
  }
  const graceMs = msFlag(args, 'grace-ms')
  const drainDelayMs = msFlag(args, 'drain-delay-ms') ?? 0
  const tls = await tlsFiles(stringFlag(args, 'tls-key'), stringFlag(args, 'tls-cert'), http !== undefined, io.cwd)
  const amqp = amqpText === undefined ? undefined : amqpUrl(amqpText, undefined)
  if (amqp?.target !== undefined) {
    throw new UsageError('?service= names a service to call; serve takes the name from the service module or --name')
  }

  // A long-running service logs its warnings and errors, as JSON lines on stderr.
  const logger = streamLogger(io.stderr, boolFlag(args, 'verbose') ? 'debug' : 'warn')
  const stoa = await loadService(path, { cwd: io.cwd, name: stringFlag(args, 'name'), logger, graceMs })
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
      if (stop.aborted) throw new Error(`${typeof stop.reason === 'string' ? stop.reason : 'stop signal'} received: shutting down`)
    })
    if (probes !== undefined) {
      probeServer = await serveHealth(stoa, probes).catch((err: unknown) => {
        throw startFailure(err, `the health server on ${healthText}`)
      })
    }
    if (http !== undefined) {
      const { createHttpTransport } = await import('../../transports/http/index.js')
      const transport = createHttpTransport({ host: http.host, port: http.port, ...(tls === undefined ? {} : { tls }) })
      stoa.listen(transport)
      addresses.push(() => transport.address() ?? `http://${http.host}:${http.port}`)
    }
    if (amqp !== undefined) {
      const { createAmqpTransport } = await import('../../transports/amqp/index.js')
      // Listening takes the service's requests, tasks and events; the client side carries the
      // tasks and events it sends to the other services on the broker.
      const transport = createAmqpTransport(graceMs === undefined ? amqp : { ...amqp, graceMs })
      stoa.listen(transport).client(transport)
    }
    // Without a broker there is no client transport, and the kernel delivers the service's own
    // tasks and events in process: nothing more to wire.
    await started(stoa)
    if (web !== undefined) {
      const { serveWeb } = await import('../../plugins/web/index.js')
      front = await serveWeb(stoa, web).catch((err: unknown) => {
        throw startFailure(err, `the web server on ${webText}`)
      })
    }
  } catch (err) {
    await front?.close()
    await probeServer?.close()
    await stoa.close()
    throw err
  }
  const urls = [...addresses.map((f) => f()), ...(amqp === undefined ? [] : [shownUrl(amqp.url)]), ...(front === undefined ? [] : [front.url])]
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
  await Promise.all([front === undefined ? undefined : Promise.race([front.close(), delay(grace + 1000)]), stoa.close()])
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
    if (isStoaErrorLike(err) && err.code === 'INVALID_PLUGIN' && (err as { details?: { plugin?: unknown } }).details?.plugin === 'health') return
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
  return new StoaError('UNAVAILABLE', `${what} failed to start: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err })
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/**
 * The key and certificate files of `--tls-key` and `--tls-cert`, read. Both or neither, and
 * only with `--http`; a file that cannot be read is a usage error naming its flag.
 */
async function tlsFiles(key: string | undefined, cert: string | undefined, http: boolean, cwd: string): Promise<{ key: Buffer; cert: Buffer } | undefined> {
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
