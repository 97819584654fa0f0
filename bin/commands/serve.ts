import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger, LogLevel, Stoa } from '../../actions/index.js'
import { patternString, StoaError, toPattern } from '../../actions/index.js'
import type { PinoLevel } from '../../plugins/logs/index.js'
import type { Front } from '../endpoint-server.js'
import { endpointServer } from '../endpoint-server.js'
import type { Args, Io } from '../io.js'
import { declaredClients, loadService } from '../load.js'
import { isStoaErrorLike } from '../output.js'
import { amqpUrl, hostPort, natsUrl, serveNats, shownUrl } from '../remote.js'
import { UsageError } from '../usage.js'
import { describe, LIST_PATTERN } from './list.js'
import { boolFlag, settingsSource, streamLogger, stringFlag } from './shared.js'

/** The servers serve started beside the instance: the probe server stops last. */
interface Servers {
  readonly fronts: Front[]
  probes: Front | undefined
}

/** What the flags of `stoa serve` ask for, checked. */
type ServeFlags = Awaited<ReturnType<typeof serveFlags>>

/**
 * `stoa serve <service>`: starts the service on the transports asked for, prints
 * `<service> listening on <url>` for each, and runs until the stop signal (SIGTERM, SIGINT);
 * then it stops taking requests, lets the work in flight finish, closes and returns 0.
 * Each transport is imported only when its flag asks for it. What plugins serve over HTTP
 * (`stoa.httpParts()`: the metrics plugin's `/metrics`) is mounted on every HTTP server, and
 * transports report to the plugins observing them by themselves: serve knows no plugin but
 * health, which it loads for the probes unless the service did.
 *
 * @example
 * await serve({ positionals: ['./math.ts'], values: { http: '127.0.0.1:0' } }, io)
 */
export async function serve(args: Args, io: Io): Promise<number> {
  if (boolFlag(args, 'watch')) return watch(args, io)
  const flags = await serveFlags(args, io)
  // A long-running service logs through pino: JSON lines on stderr, readable ones with --pretty
  // or on a terminal; the level from LOG_LEVEL (info by default), debug with --verbose.
  const logger = await serviceLogger(args, io)
  const stoa = await loadService(flags.path, {
    cwd: io.cwd,
    // The settings are resolved (and logged, secrets redacted) as the instance is made: a bad
    // one stops serve here, before any transport is started.
    env: await settingsSource(args, io),
    name: stringFlag(args, 'name'),
    logger,
    graceMs: flags.graceMs,
  })
  // Ask for the signal before starting, so a SIGTERM that arrives during startup still closes
  // gracefully instead of killing the process halfway.
  const stop = io.stopSignal()
  const servers: Servers = { fronts: [], probes: undefined }
  let urls: string[]
  try {
    urls = await start(stoa, flags, stop, servers)
  } catch (err) {
    for (const f of servers.fronts) await f.close()
    await servers.probes?.close()
    await stoa.close()
    throw err
  }
  for (const url of urls) io.stdout.write(`${stoa.name} listening on ${url}\n`)
  if (servers.probes !== undefined) io.stdout.write(`${stoa.name} health on ${servers.probes.url}\n`)
  await aborted(stop)
  io.stderr.write(`${stoa.name} closing${typeof stop.reason === 'string' ? ` on ${stop.reason}` : ''}\n`)
  // SIGTERM comes from an orchestrator, which needs a moment to see /readyz fail and route
  // around this instance; SIGINT is someone at a terminal, who wants it gone.
  if (flags.drainDelayMs > 0 && stop.reason === 'SIGTERM') await delay(flags.drainDelayMs)
  // The web servers stop accepting while the instance stops its transports and drains the work
  // in flight (web requests included); a web request stuck past the grace period is not waited for.
  const grace = flags.graceMs ?? DEFAULT_GRACE_MS
  await Promise.all([...servers.fronts.map((f) => Promise.race([f.close(), delay(grace + 1000)])), stoa.close()])
  await servers.probes?.close()
  return 0
}

/**
 * `stoa serve --watch`: the same command without `--watch`, run under node's own watch mode,
 * which starts it again whenever a file it loaded (the service module and what it imports)
 * changes: the old process gets SIGTERM and closes gracefully first, so a fixed port is free
 * again. The stop signal stops both. The flags are checked here first, so a mistake is told
 * once rather than on every restart.
 */
async function watch(args: Args, io: Io): Promise<number> {
  await serveFlags(args, io)
  const argv = ['serve', ...args.positionals]
  for (const [name, value] of Object.entries(args.values)) {
    if (name === 'watch' || value === undefined || value === false) continue
    argv.push(`--${name}`, ...(value === true ? [] : [value]))
  }
  // This command from source (bin/stoa.ts) runs through tsx; built, it is plain JavaScript.
  const source = import.meta.url.endsWith('.ts')
  const bin = fileURLToPath(new URL(source ? '../stoa.ts' : '../stoa.js', import.meta.url))
  const node = [...(source ? ['--import', 'tsx'] : []), '--watch', '--watch-preserve-output', bin, ...argv]
  const child = spawn(process.execPath, node, {
    cwd: io.cwd,
    env: io.env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (chunk: Buffer) => io.stdout.write(chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk.toString()))
  const stop = io.stopSignal()
  const forward = () => child.kill(typeof stop.reason === 'string' ? (stop.reason as NodeJS.Signals) : 'SIGTERM')
  stop.addEventListener('abort', forward, { once: true })
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c, signal) => resolve(c ?? (signal === null ? 1 : 0)))
  })
  stop.removeEventListener('abort', forward)
  return code
}

/** Reads and checks the flags of `stoa serve`. */
async function serveFlags(args: Args, io: Io) {
  const [path, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const at = (name: string) => {
    const text = stringFlag(args, name)
    return text === undefined ? undefined : hostPort(text, `--${name}`)
  }
  const http = at('http')
  const web = at('web')
  const amqpText = stringFlag(args, 'amqp')
  const nats = stringFlag(args, 'nats')
  if (http === undefined && amqpText === undefined && nats === undefined && web === undefined) {
    throw new UsageError('serve needs at least one of --http, --amqp, --nats, --web')
  }
  const amqp = amqpText === undefined ? undefined : amqpUrl(amqpText, undefined)
  if (amqp?.target !== undefined) {
    throw new UsageError('?service= names a service to call; serve takes the name from the service module or --name')
  }
  return {
    path,
    http,
    remotes: remoteFlag(stringFlag(args, 'remote')),
    amqp,
    nats,
    web,
    probes: at('health'),
    metrics: at('metrics'),
    graceMs: msFlag(args, 'grace-ms'),
    drainDelayMs: msFlag(args, 'drain-delay-ms') ?? 0,
    tls: await tlsFiles(stringFlag(args, 'tls-key'), stringFlag(args, 'tls-cert'), http !== undefined, io.cwd),
  }
}

/**
 * Starts the instance and the servers beside it, keeping each in `servers` as it starts (for
 * closing them if a later one fails); returns the URLs to print.
 */
async function start(stoa: Stoa, flags: ServeFlags, stop: AbortSignal, servers: Servers): Promise<string[]> {
  const { endpoints, web: webParts } = stoa.httpParts()
  if (flags.metrics !== undefined && endpoints['/metrics'] === undefined) {
    throw new UsageError(`service "${stoa.name}" loads no metrics plugin: --metrics would serve nothing`)
  }
  if (flags.web !== undefined && !stoa.has('role:web,cmd:routes')) {
    throw new UsageError(`service "${stoa.name}" loads no web plugin: --web would serve no routes`)
  }
  // What `stoa list --url` asks: this instance's own list, as `stoa list` prints it.
  stoa.add(LIST_PATTERN, () => ({ entries: describe(stoa) }), {
    public: true,
    description: 'the actions, tasks, subscriptions and hooks of this service (stoa list --url)',
  })
  const { default: health, serveHealth } = await import('../../plugins/health/index.js')
  // For /readyz and role:health,cmd:ready; a service that loads health keeps its own options.
  if (!stoa.hasPlugin('health')) stoa.use(health, { web: flags.web !== undefined })
  // Readiness drops the moment the signal arrives, before anything stops: a load balancer
  // polling /readyz stops sending while the service still answers.
  stoa.addCheck('signal', () => {
    if (stop.aborted)
      throw new Error(`${typeof stop.reason === 'string' ? stop.reason : 'stop signal'} received: shutting down`)
  })
  const probes = flags.probes
  if (probes !== undefined)
    servers.probes = await serveHealth(stoa, probes).catch(failedAs(`the health server on ${hostText(probes)}`))
  let address: (() => string) | undefined
  if (flags.http !== undefined) {
    const { host, port } = flags.http
    const { createHttpTransport } = await import('../../transports/http/index.js')
    const tls = flags.tls === undefined ? {} : { tls: flags.tls }
    const transport = createHttpTransport({ host, port, endpoints, ...tls })
    stoa.listen(transport)
    address = () => transport.address() ?? `http://${host}:${port}`
  }
  if (flags.amqp !== undefined) {
    const { createAmqpTransport } = await import('../../transports/amqp/index.js')
    const grace = flags.graceMs === undefined ? {} : { graceMs: flags.graceMs }
    // Listening takes the service's requests, tasks and events; the client side carries the
    // tasks and events it sends to the other services on the broker. Without a broker there
    // is no client transport, and the kernel delivers the service's own tasks and events in
    // process.
    const transport = createAmqpTransport({ ...flags.amqp, ...grace })
    stoa.listen(transport).client(transport)
  }
  const nats = flags.nats === undefined ? undefined : await serveNats(stoa, flags.nats, flags.graceMs)
  await wireClients(stoa, flags)
  await stoa.ready().catch(failedAs(`service "${stoa.name}"`))
  if (flags.web !== undefined) await warnUnanswered(stoa)
  warnUnansweredActs(stoa)
  const urls = address === undefined ? [] : [address()]
  if (flags.metrics !== undefined) {
    const alone = await endpointServer(flags.metrics, endpoints).catch(
      failedAs(`the metrics server on ${hostText(flags.metrics)}`),
    )
    servers.fronts.push(alone)
    urls.push(`${alone.url}/metrics`)
  }
  // The prefix names every queue and exchange: shown in the URL, which `stoa act --url` takes.
  if (flags.amqp !== undefined)
    urls.push(withPrefix(flags.amqp.url.split(',').map(shownUrl).join(','), flags.amqp.prefix ?? 'stoa'))
  if (nats !== undefined) urls.push(nats)
  if (flags.web !== undefined) {
    const { serveWeb, webRoutes } = await import('../../plugins/web/index.js')
    // Plugins' web parts run as `before` middleware, so stoa's routes stay on serveWeb's
    // node:http path.
    const routes = webParts.length === 0 ? [] : await webRoutes(stoa)
    const before = webParts.map((make) => make(routes))
    // The plugins' GET endpoints (the contracts plugin's /docs, say) answer on this server too.
    if (Object.keys(endpoints).length > 0) before.push(endpointsFirst(endpoints))
    const front = await serveWeb(stoa, { ...flags.web, ...(before.length === 0 ? {} : { before }) }).catch(
      failedAs(`the web server on ${hostText(flags.web)}`),
    )
    servers.fronts.push(front)
    urls.push(front.url)
  }
  return urls
}

/** Middleware answering `GET`/`HEAD` on the endpoints' exact paths, and passing on the rest. */
function endpointsFirst(
  endpoints: Record<string, (req: IncomingMessage, res: ServerResponse) => void>,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const handler = Object.hasOwn(endpoints, path) ? endpoints[path] : undefined
    if (handler !== undefined && (req.method === 'GET' || req.method === 'HEAD')) handler(req, res)
    else next()
  }
}

/**
 * The remote services the module declared (`defineService({ clients })`), each reached through
 * its `--remote` URL (stoa's HTTP transport: that service's `stoa serve --http`), or else the
 * broker serve was given: its acts go to that service's request queue or subject. A declared
 * service nothing reaches is said once at start rather than as a 404 per request.
 */
async function wireClients(stoa: Stoa, flags: ServeFlags): Promise<void> {
  const declared = declaredClients(stoa)
  for (const name of flags.remotes.keys()) {
    if (!Object.hasOwn(declared, name)) {
      const known = Object.keys(declared)
      throw new UsageError(
        `--remote names "${name}", which service "${stoa.name}" does not call: ${known.length === 0 ? 'it declares no clients' : `its clients are ${known.join(', ')}`}`,
      )
    }
  }
  const clients = Object.entries(declared)
  if (clients.length === 0) return
  const grace = flags.graceMs === undefined ? {} : { graceMs: flags.graceMs }
  for (const [target, pins] of clients) {
    const remote = flags.remotes.get(target)
    if (remote !== undefined) {
      const { createHttpTransport } = await import('../../transports/http/index.js')
      stoa.client(createHttpTransport({ url: remote }), pins)
    } else if (flags.amqp !== undefined) {
      const { createAmqpTransport } = await import('../../transports/amqp/index.js')
      stoa.client(createAmqpTransport({ ...flags.amqp, ...grace, target }), pins)
    } else if (flags.nats !== undefined) {
      const { createNatsTransport } = await import('../../transports/nats/index.js')
      stoa.client(createNatsTransport({ ...natsUrl(flags.nats, undefined), ...grace, target }), pins)
    } else {
      stoa.log.warn(
        { service: target, pins: pins.map(patternString) },
        `service "${stoa.name}" calls "${target}" (${pins.map(patternString).join(' ')}), but nothing reaches it: serve with --amqp, --nats or --remote ${target}=<url>`,
      )
    }
  }
}

/**
 * `--remote auth=http://127.0.0.1:3001,results=http://127.0.0.1:3002`: the HTTP URL of each
 * declared remote service that is reached over HTTP, by its name.
 */
function remoteFlag(text: string | undefined): Map<string, string> {
  const remotes = new Map<string, string>()
  if (text === undefined) return remotes
  for (const part of text.split(',')) {
    const eq = part.indexOf('=')
    const name = eq < 0 ? '' : part.slice(0, eq).trim()
    const url = eq < 0 ? '' : part.slice(eq + 1).trim()
    if (name === '' || url === '')
      throw new UsageError(`--remote takes <service>=<url>[,<service>=<url>…], not "${part}"`)
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new UsageError(`--remote ${name}: not a URL: ${url}`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new UsageError(
        `--remote ${name}: ${parsed.protocol}// is not HTTP; a service on the broker is reached through --amqp or --nats`,
      )
    if (remotes.has(name)) throw new UsageError(`--remote names "${name}" twice`)
    remotes.set(name, parsed.href)
  }
  return remotes
}

/**
 * A web route whose pattern no action here and no client answers would answer every request
 * with 404 NOT_FOUND: said once at start, naming the route and the pattern.
 */
async function warnUnanswered(stoa: Stoa): Promise<void> {
  const { webRoutes } = await import('../../plugins/web/index.js')
  for (const route of await webRoutes(stoa)) {
    if (stoa.find(route.pattern) !== undefined) continue
    const pattern = route.pattern
    stoa.log.warn(
      { route: `${route.method} ${route.path}`, pattern },
      `route ${route.method} ${route.path} acts on "${pattern}", which no action of "${stoa.name}" and no client answers: it would answer 404`,
    )
  }
}

/**
 * An action's declared `acts` that no action here and no client answers would fail NOT_FOUND
 * on its first call: said once at start, naming the action and the pattern.
 */
function warnUnansweredActs(stoa: Stoa): void {
  for (const action of stoa.list()) {
    for (const declared of action.options.acts ?? []) {
      if (stoa.find(declared) !== undefined) continue
      const pattern = patternString(toPattern(declared))
      stoa.log.warn(
        { action: action.key, pattern },
        `action "${action.key}" acts on "${pattern}", which no action of "${stoa.name}" and no client answers: the call would fail NOT_FOUND`,
      )
    }
  }
}

/**
 * A broker URL with the `?prefix=` its names start with, as `stoa act --url` reads it back; of
 * several nodes' URLs (comma-separated), each is shown and the last carries the prefix.
 */
function withPrefix(text: string, prefix: string): string {
  const parts = text.split(',')
  const url = new URL(parts.pop()!)
  url.searchParams.set('prefix', prefix)
  return [...parts, url.href].join(',')
}

/** The kernel's own default grace period, for bounding the web server's close the same way. */
const DEFAULT_GRACE_MS = 10_000

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
 * For `.catch` on a start: a failure with anything but a stoa error (a port in use, say) is
 * reported as `UNAVAILABLE` with the system's own words: it is this machine's user who reads
 * them, and they say what to fix.
 */
function failedAs(what: string): (err: unknown) => never {
  return (err) => {
    throw startFailure(err, what)
  }
}

function hostText(at: { host: string; port: number }): string {
  return `${at.host}:${at.port}`
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
  const level = boolFlag(args, 'verbose') ? 'debug' : (fromEnv.level ?? 'info')
  const asked = boolFlag(args, 'pretty')
  try {
    return createPinoLogger({ level, pretty: asked || io.stderr.isTTY === true, destination: io.stderr })
  } catch (err) {
    const missing = err instanceof StoaError ? err.details?.package : undefined
    // Without pino (an optional peer), stoa's own logger writes the same JSON lines: a new
    // project serves with stoa alone. Asked for with --pretty, the missing package is named.
    if (missing === 'pino' && !asked) return streamLogger(io.stderr, KERNEL_LEVEL[level])
    // A terminal only suggests readable lines: without pino-pretty installed they stay JSON.
    if (asked || missing !== 'pino-pretty') throw err
    return createPinoLogger({ level, pretty: false, destination: io.stderr })
  }
}

/** pino's levels as stoa's own logger has them. */
const KERNEL_LEVEL: Record<PinoLevel, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
  silent: 'silent',
}
