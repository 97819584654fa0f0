import type { ChildProcess } from 'node:child_process'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fromEnvironment } from './config.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** What to start. */
export interface ClusterOptions {
  gateways: number
  workers: number
  /** nginx's port on 127.0.0.1; 0 picks a free one. */
  port: number
  amqpUrl: string
  /** The broker between the services: RabbitMQ (default) or NATS with JetStream at `natsUrl`. */
  broker?: 'amqp' | 'nats'
  natsUrl?: string
  databaseUrl: string
  /** Queue and exchange names start with it: a per-run prefix keeps runs apart. */
  prefix: string
  /**
   * RabbitMQ's queue type for the durable queues: `quorum` (default), replicated across a
   * cluster's nodes, or `classic`.
   */
  queueType?: 'classic' | 'quorum'
  jwtSecret: string
  /**
   * Where a service process runs, by its name (`tally-1`, `auth`, `results`, `gateway-2`): a
   * command that puts it on another host (`['ip', 'netns', 'exec', 'h1']`, `['ssh', 'h1']`) and
   * the address it listens on there. Undefined: here, on 127.0.0.1. nginx always runs here.
   */
  place?: (name: string) => Placement | undefined
  /**
   * nginx's passive health check: after one failed or timed-out attempt (2 s to connect, 10 s
   * to answer) it sends a gateway nothing for 5 s, which a gateway on a host cut from the
   * network needs. Off (the default), nginx tries every gateway on every request: when a broker
   * outage makes every gateway slow at once, the gateways answer 503 themselves instead of nginx
   * marking them all down and answering 502 for 5 s.
   */
  failover?: boolean
  /** Where each process's output goes, line by line, with its name. */
  log?: (name: string, line: string) => void
}

/** A host a service process runs on: the command prefix that starts it there, its address there. */
export interface Placement {
  readonly command: readonly string[]
  readonly address: string
}

/** One service process of the cluster, restarted by the cluster whenever it dies. */
export interface ServiceProcess {
  readonly name: string
  /** The process running now: a new one after each restart. */
  readonly child: ChildProcess
  /** Its `listening on` URL, for a gateway (a restarted gateway listens on the same port). */
  readonly url: string | undefined
  /** How many times it was started again after dying. */
  readonly restarts: number
  /** Resolves once a process of this service runs and is ready: at once, or after the restart under way. */
  running(): Promise<void>
}

/** A running cluster. */
export interface Cluster {
  /** nginx's URL: where voters go. */
  readonly url: string
  readonly gateways: readonly ServiceProcess[]
  /** The tally workers. */
  readonly workers: readonly ServiceProcess[]
  /** Every process it supervises: the workers, auth, results, the gateways and nginx. */
  readonly processes: readonly ServiceProcess[]
  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`) and removes nginx's files. */
  stop(graceMs?: number): Promise<void>
}

/**
 * Restart backoff, as a process manager keeps it: the first restart after `RESTART_MIN_MS`,
 * each further one twice as late up to `RESTART_MAX_MS`, so a process that cannot start (its
 * database is down) is not started in a tight loop; a process that ran `STABLE_MS` before it
 * died starts the count again.
 */
const RESTART_MIN_MS = 200
const RESTART_MAX_MS = 10_000
const STABLE_MS = 10_000

/** How a process is started (and started again). */
type Launch = () => Promise<{ child: ChildProcess; url: string | undefined }>

/**
 * A service process that is started again whenever it exits, unless the cluster is stopping:
 * each exit is logged with its code or signal, each restart waits its backoff.
 */
class Supervised implements ServiceProcess {
  restarts = 0
  private failures = 0
  private startedAt = Date.now()
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private waiting: (() => void)[] = []

  private constructor(
    readonly name: string,
    public child: ChildProcess,
    readonly url: string | undefined,
    private readonly launch: Launch,
    private readonly log: (line: string) => void,
  ) {
    this.watch(child)
  }

  /** Starts it the first time; a failure here fails the cluster's start. */
  static async start(name: string, launch: Launch, log: (line: string) => void): Promise<Supervised> {
    const { child, url } = await launch()
    return new Supervised(name, child, url, launch, log)
  }

  running(): Promise<void> {
    if (this.timer === undefined && this.alive()) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** Stops supervising, then the process. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await stopProcess(this.child, graceMs)
  }

  private alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  private watch(child: ChildProcess): void {
    child.once('exit', (code, signal) => {
      if (this.stopped || child !== this.child) return
      const how = signal === null ? `with code ${code}` : `on ${signal}`
      this.schedule(`${this.name} (pid ${child.pid}) exited ${how}`)
    })
  }

  private schedule(what: string): void {
    if (Date.now() - this.startedAt >= STABLE_MS) this.failures = 0
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.failures)
    this.failures++
    this.log(`${what}; starting it again in ${delay} ms`)
    this.timer = setTimeout(() => void this.restart(), delay)
  }

  private async restart(): Promise<void> {
    this.startedAt = Date.now()
    let started: { child: ChildProcess }
    try {
      started = await this.launch()
    } catch (err) {
      if (!this.stopped) this.schedule(`${this.name} failed to start: ${(err as Error).message}`)
      return
    }
    this.timer = undefined
    if (this.stopped) return void (await stopProcess(started.child, 2000))
    this.child = started.child
    this.restarts++
    this.watch(started.child)
    this.log(`${this.name} started again (pid ${started.child.pid}, restart ${this.restarts})`)
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

/**
 * Starts the distributed vote system: M tally workers (which migrate the schema under an
 * advisory lock as they start), auth, results and N gateways with their pages, every one under
 * `stoa serve` on RabbitMQ (or NATS: `broker`), and nginx in front of the gateways, round robin, no sticky sessions. Every
 * process is a child of this one, and is started again, after a backoff, whenever it dies, as
 * a process manager or an orchestrator would (each exit is logged under the name `cluster`).
 *
 * @example
 * const cluster = await startCluster({ gateways: 2, workers: 3, port: 8080, ...urls })
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  if (options.jwtSecret === '') throw new Error('jwtSecret must be set: every service of the cluster shares it')
  const nginx = nginxPath()
  const dir = mkdtempSync(join(tmpdir(), 'vote-cluster-'))
  const env = {
    ...process.env,
    AMQP_URL: options.amqpUrl,
    VOTE_BROKER: options.broker ?? 'amqp',
    ...(options.natsUrl === undefined ? {} : { NATS_URL: options.natsUrl }),
    DATABASE_URL: options.databaseUrl,
    VOTE_PREFIX: options.prefix,
    VOTE_QUEUE_TYPE: options.queueType ?? 'quorum',
    JWT_SECRET: options.jwtSecret,
  }
  const withPrefix = (url: string) =>
    `${url}${url.includes('?') ? '&' : '?'}prefix=${encodeURIComponent(options.prefix)}`
  const broker =
    options.broker === 'nats'
      ? ['--nats', withPrefix(options.natsUrl ?? 'nats://127.0.0.1:4222')]
      : ['--amqp', `${withPrefix(options.amqpUrl)}&queueType=${options.queueType ?? 'quorum'}`]
  const log = options.log ?? (() => undefined)
  const supervise = (line: string) => log('cluster', line)
  const all: Supervised[] = []
  const keep = async (name: string, launch: Launch) => {
    const p = await Supervised.start(name, launch, supervise)
    all.push(p)
    return p
  }
  const on = (name: string) => options.place?.(name) ?? { command: [], address: '127.0.0.1' }
  /** `stoa serve` of one of the vote's service modules on the broker, on the process's host. */
  const stoaServe = (name: string, module: string) => [
    ...on(name).command,
    process.execPath,
    '--import',
    'tsx',
    'bin/stoa.ts',
    'serve',
    `examples/vote/services/${module}.ts`,
    ...broker,
  ]
  const serve = (name: string, module: string) =>
    keep(name, () => start(name, stoaServe(name, module), env, log, /listening on/))
  const gateway = async (name: string) => {
    // The first start picks a free port; a restart takes the same one, which nginx points at.
    let port = '0'
    const p = await keep(name, async () => {
      // Its pages and API on --web, auth and results reached through the broker as its
      // module's clients declare.
      const started = await start(
        name,
        [...stoaServe(name, 'gateway'), '--web', `${on(name).address}:${port}`],
        env,
        log,
        /vote listening on (http:\/\/\S+)/,
      )
      port = new URL(started.url!).port
      return started
    })
    return p
  }

  try {
    const workers = await Promise.all(
      Array.from({ length: options.workers }, (_, i) => serve(`tally-${i + 1}`, 'tally')),
    )
    await Promise.all([serve('auth', 'auth'), serve('results', 'results')])
    const gateways = await Promise.all(Array.from({ length: options.gateways }, (_, i) => gateway(`gateway-${i + 1}`)))
    const port = options.port === 0 ? await freePort() : options.port
    writeFileSync(
      join(dir, 'nginx.conf'),
      nginxConf(
        dir,
        port,
        gateways.map((g) => new URL(g.url!).host),
        options.failover === true,
      ),
    )
    const front = await keep('nginx', () =>
      start(
        'nginx',
        [nginx, '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
        env,
        log,
        undefined,
      ),
    )
    const url = `http://127.0.0.1:${port}`
    await waitForHttp(`${url}/api/results`, 15_000)
    return {
      url,
      gateways,
      workers,
      processes: all,
      async stop(graceMs = 10_000) {
        // nginx first, so no new request reaches a gateway; then gateways, then the services.
        const order = [
          front,
          ...all.filter((p) => p.name.startsWith('gateway')),
          ...all.filter((p) => p !== front && !p.name.startsWith('gateway')),
        ]
        for (const p of order) await p.stop(graceMs)
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    for (const p of all) await p.stop(2000)
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

/** nginx from Debian: found, or installed through apt when missing. */
export function nginxPath(): string {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p
  process.stderr.write('nginx is missing: installing it with apt-get\n')
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  execFileSync('apt-get', ['install', '-y', '-qq', 'nginx'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p
  throw new Error('nginx could not be installed')
}

/**
 * Round robin (nginx's default) over the gateways, keep-alive connections to them, and no
 * sticky sessions: any gateway serves any voter, since identity is the token. A POST is never
 * sent to a second gateway after a failure (nginx's default for non-idempotent requests), so a
 * vote is not cast twice by the balancer; one that could not connect within 2 s (a gateway
 * cut off, not refusing) goes to the next, since it was never sent. A gateway that failed
 * (no connection, or no answer within 10 s, where a gateway answers in milliseconds or says
 * 503 after its 2 s publish wait) gets nothing for 5 s. The results stream is passed through
 * unbuffered.
 */
function nginxConf(dir: string, port: number, gateways: readonly string[], failover: boolean): string {
  const server = failover ? 'max_fails=1 fail_timeout=5s' : 'max_fails=0'
  const timeouts = failover ? '\n    proxy_connect_timeout 2s;\n    proxy_read_timeout 10s;' : ''
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # The gateways answer 413 themselves, as JSON, past their own 1 MiB limit.
  client_max_body_size 2m;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream gateways {
${gateways.map((g) => `    server ${g} ${server};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;${timeouts}
    proxy_set_header Connection "";
    # With its port: the gateways check a cookie-borne POST's Origin against it.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    location / { proxy_pass http://gateways; }
    # The results stream: server-sent events (unbuffered) or a WebSocket (upgraded), on any
    # gateway, since every gateway hears every event. A location setting proxy_set_header
    # inherits none from above: each is set again.
    location = /api/results/stream {
      proxy_pass http://gateways;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`
}

function start(
  name: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  log: (name: string, line: string) => void,
  ready: RegExp | undefined,
): Promise<{ child: ChildProcess; url: string | undefined }> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let seen = ''
  const lines = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') log(name, line)
  }
  child.stderr!.on('data', lines)
  return new Promise((resolve, reject) => {
    if (ready === undefined) {
      child.stdout!.on('data', lines)
      // nginx prints nothing when it starts well: give it a moment to fail on its config.
      const timer = setTimeout(() => resolve({ child, url: undefined }), 300)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${code} at start`))
      })
      return
    }
    const timer = setTimeout(() => {
      // Not left running unsupervised: whoever retries starts a new one.
      child.kill('SIGKILL')
      reject(new Error(`${name} did not start within 60 s`))
    }, 60_000)
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code} at start`))
    }
    child.once('exit', onExit)
    child.stdout!.on('data', (chunk: Buffer) => {
      lines(chunk)
      if (seen === '\0') return
      seen += chunk.toString()
      const m = ready.exec(seen)
      if (m === null) return
      seen = '\0'
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve({ child, url: m[1] })
    })
  })
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await gone
  clearTimeout(timer)
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Creates the database of `url` when it does not exist yet (the tally migrates it). */
async function ensureDatabase(url: string): Promise<void> {
  const { default: pg } = await import('pg')
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.slice(1))
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString() })
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (rowCount === 0) {
      process.stdout.write(`creating database "${name}"\n`)
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
    }
  } finally {
    await client.end()
  }
}

/** `npm run vote:cluster -- --gateways 2 --workers 3 [--port 8080] [--broker nats]`. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string', default: '2' },
      workers: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      broker: { type: 'string', default: 'amqp' },
    },
  })
  const count = (v: string, name: string, min: number) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number from ${min}`)
    return n
  }
  if (values.broker !== 'amqp' && values.broker !== 'nats') throw new Error('--broker must be amqp or nats')
  // The children are started by hand no more: this process makes the secret they all share.
  const config = fromEnvironment(process.env, { generateSecret: true })
  await ensureDatabase(config.databaseUrl)
  if (config.generated)
    process.stdout.write('JWT_SECRET is unset: every service of this cluster shares a random one for this run\n')
  const cluster = await startCluster({
    gateways: count(values.gateways, 'gateways', 1),
    workers: count(values.workers, 'workers', 1),
    port: count(values.port, 'port', 0),
    amqpUrl: config.amqpUrl,
    broker: values.broker,
    natsUrl: config.natsUrl,
    databaseUrl: config.databaseUrl,
    prefix: config.prefix,
    queueType: config.queueType,
    jwtSecret: config.jwtSecret,
    log: (name, line) => process.stderr.write(`[${name}] ${line}\n`),
  })
  process.stdout.write(
    `vote cluster: ${cluster.gateways.length} gateways, ${cluster.workers.length} tally workers, auth and results behind nginx\n`,
  )
  process.stdout.write(`  vote:    ${cluster.url}/\n  results: ${cluster.url}/results\nCtrl-C stops every process.\n`)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stdout.write(`\n${signal}: stopping the cluster\n`)
    await cluster.stop()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`vote cluster failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
