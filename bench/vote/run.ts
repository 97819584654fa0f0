import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import jwt from 'jsonwebtoken'
import pg from 'pg'
import { emitFigures } from '../lib.js'

// autocannon ships no types; its programmatic API is used as documented in its README.
const { default: autocannon } = (await import('autocannon' as string)) as {
  default: (opts: Record<string, unknown>) => Promise<any>
}

/**
 * `run.ts <stoa|handwritten|embedded> <seconds>`: starts one vote pipeline, loads its gateway
 * with autocannon (64 connections, 5,000 voters' tokens in turn) for `seconds`, then waits
 * until every accepted vote is committed. Prints votes accepted per second (`accepted`),
 * votes accepted and committed per second end to end (`ops`), and the CPU each part spent per
 * vote (µs): gateway, worker, broker (RabbitMQ's beam.smp) and database (every postgres
 * process: on a shared server, other users' work counts too).
 */
const [kind, secondsText] = process.argv.slice(2) as ['stoa' | 'handwritten' | 'embedded', string]
const seconds = Number(secondsText ?? 5)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://127.0.0.1:5672'
const SECRET = randomBytes(32).toString('base64url')
const prefix = `bench-vote-${randomBytes(4).toString('hex')}`
const database = `bench_vote_${randomBytes(4).toString('hex')}`
const children: ChildProcess[] = []

function start(
  argv: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...argv], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not start:\n${out}`)), 90_000)
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}:\n${out}`)))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = ready.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({ child, match: m })
      }
    })
  })
}

/** CPU time of processes, µs, from /proc. */
function cpuUs(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // gone
    }
  }
  return ticks * 10_000
}

function pidsNamed(name: string): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) out.push(Number(d))
    } catch {
      // gone
    }
  }
  return out
}

const admin = new pg.Client({ connectionString: PG_URL })
const dbUrl = new URL(PG_URL)
dbUrl.pathname = `/${database}`
let count: () => Promise<number>
let gatewayUrl: string
let gatewayPids: number[]
let workerPids: number[]
let cleanup = async () => {}

try {
  if (kind === 'embedded') {
    // A data directory kept between runs: a fresh PGlite takes seconds to initialise.
    const dataDir = join(tmpdir(), 'stoa-bench-vote-embedded')
    mkdirSync(dataDir, { recursive: true })
    const demo = await start(
      ['examples/vote/main.ts'],
      { PORT: '0', VOTE_DATA_DIR: dataDir, JWT_SECRET: SECRET },
      /vote:\s+(http:\/\/\S+)\//,
    )
    gatewayUrl = demo.match[1]!
    gatewayPids = [demo.child.pid!]
    workerPids = []
    const base = await fetchResults(gatewayUrl)
    count = async () => (await fetchResults(gatewayUrl)) - base
  } else {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    const env = { AMQP_URL, DATABASE_URL: dbUrl.toString(), VOTE_PREFIX: prefix, JWT_SECRET: SECRET }
    const worker =
      kind === 'stoa'
        ? await start(
            ['bin/stoa.ts', 'serve', 'examples/vote/services/tally.ts', '--amqp', `${AMQP_URL}?prefix=${prefix}`],
            env,
            /listening on/,
          )
        : await start(['bench/vote/handwritten-worker.ts'], env, /listening/)
    const gateway = await start(
      kind === 'stoa'
        ? [
            'bin/stoa.ts',
            'serve',
            'examples/vote/services/gateway.ts',
            '--amqp',
            `${AMQP_URL}?prefix=${prefix}`,
            '--web',
            '127.0.0.1:0',
          ]
        : ['bench/vote/handwritten-gateway.ts'],
      { ...env, PORT: '0' },
      /vote listening on (http:\/\/\S+)/,
    )
    gatewayUrl = gateway.match[1]!
    gatewayPids = [gateway.child.pid!]
    workerPids = [worker.child.pid!]
    const db = new pg.Client({ connectionString: dbUrl.toString() })
    await db.connect()
    count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM votes')).rows[0]!.n)
    cleanup = async () => {
      await db.end()
    }
  }

  const tokens = Array.from({ length: 5000 }, (_, i) =>
    jwt.sign({ sub: `voter-${i}`, roles: ['voter'] }, SECRET, { algorithm: 'HS256', expiresIn: 3600 }),
  )
  let next = 0
  const load = (duration: number) =>
    autocannon({
      url: `${gatewayUrl}/api/votes`,
      connections: 64,
      duration,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req: any) => ({
            ...req,
            headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` },
            body: next % 3 === 0 ? '{"choice":"cats"}' : '{"choice":"dogs"}',
          }),
        },
      ],
    })
  // Warm up, then let the workers catch up before the measured run.
  const warm = await load(1)
  await until(async () => (await count()) >= warm['2xx'], 60_000)
  const broker = pidsNamed('beam.smp')
  const postgres = pidsNamed('postgres')
  const before = {
    gateway: cpuUs(gatewayPids),
    worker: cpuUs(workerPids),
    broker: cpuUs(broker),
    database: cpuUs(postgres),
    at: performance.now(),
    count: await count(),
  }
  const r = await load(seconds)
  const acceptedAt = performance.now()
  const accepted = r['2xx'] as number
  await until(async () => (await count()) - before.count >= accepted, 120_000)
  const doneAt = performance.now()
  const per = (now: number, then: number) => (now - then) / accepted
  emitFigures({
    accepted: (accepted * 1000) / (acceptedAt - before.at),
    ops: (accepted * 1000) / (doneAt - before.at),
    errors: r.errors + r.timeouts + r.non2xx,
    p50: r.latency.p50,
    p99: r.latency.p99,
    gatewayCpuUs: per(cpuUs(gatewayPids), before.gateway),
    workerCpuUs: per(cpuUs(workerPids), before.worker),
    brokerCpuUs: per(cpuUs(broker), before.broker),
    databaseCpuUs: per(cpuUs(postgres), before.database),
  })
} finally {
  await cleanup().catch(() => undefined)
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)),
    ),
  )
  if (kind !== 'embedded') {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end().catch(() => undefined)
    await deleteQueues()
  }
}

async function fetchResults(url: string): Promise<number> {
  // A reused keep-alive connection the server just closed fails once: ask again.
  for (let attempt = 1; ; attempt++) {
    try {
      const r = (await (await fetch(`${url}/api/results`)).json()) as { total: number; duplicates: number }
      return r.total + r.duplicates
    } catch (err) {
      if (attempt >= 5) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('the workers did not catch up in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function deleteQueues(): Promise<void> {
  const { default: amqp } = await import('amqplib')
  const conn = await amqp.connect(AMQP_URL)
  const ch = await conn.createChannel()
  for (const s of ['tally', 'auth', 'results', 'vote']) {
    for (const q of [`${prefix}.rpc.${s}`, `${prefix}.tasks.${s}`, `${prefix}.events.${s}`, `${prefix}.dlq.${s}`])
      await ch.deleteQueue(q)
  }
  for (const ms of [1000, 2000, 4000, 8000]) await ch.deleteQueue(`${prefix}.retry.${ms}`)
  await ch.deleteExchange(`${prefix}.events`)
  await ch.deleteExchange(`${prefix}.retry`)
  await conn.close()
}
