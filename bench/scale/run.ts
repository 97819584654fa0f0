import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import amqp from 'amqplib'
import jwt from 'jsonwebtoken'
import pg from 'pg'
import type { Cluster } from '../../examples/vote/cluster.js'
import { startCluster } from '../../examples/vote/cluster.js'
import { cpuSeconds, emitFigures } from '../lib.js'

// autocannon ships no types; its programmatic API is used as documented in its README.
const { default: autocannon } = (await import('autocannon' as string)) as {
  default: (opts: Record<string, unknown>) => Promise<any>
}

/**
 * `run.ts stoa <gateways> <workers> <batched|unbatched> <seconds>`: the distributed vote system
 * (`examples/vote/cluster.ts`: nginx, N gateways, M tally workers, auth and results, each its
 * own process under `stoa serve`) on the RabbitMQ node at `AMQP_URL` (quorum queues) and a
 * database of its own; autocannon (64 connections, 5,000 voters' tokens in turn) posts votes
 * through nginx for `seconds`, then the run waits until every accepted vote is committed.
 *
 * `run.ts raw <seconds>`: amqplib alone on the same node, the broker's own limit here: one
 * connection publishes persistent messages on a confirm channel (256 unconfirmed at most) to a
 * quorum queue, another consumes and acknowledges each (prefetch 256).
 *
 * Prints `accepted` (202s per second), `ops` (votes accepted and committed per second, end to
 * end; for raw, messages published, confirmed, consumed and acknowledged per second), and per
 * vote the CPU µs of each part: the load generator (this process), nginx, the gateways, the
 * workers, auth and results, the broker (`BROKER_PID`, the node's VM) and the database (the
 * PostgreSQL backends serving this run's database: the server's WAL writer and checkpointer,
 * shared with other users, are left out). `<part>Core` is the busiest process of a part, as a
 * fraction of one core over the load: a single-threaded process near 1 is saturated.
 */
const [kind, ...rest] = process.argv.slice(2)
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://127.0.0.1:5672'
const BROKER_PID = Number(process.env.BROKER_PID ?? NaN)
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const tag = randomBytes(4).toString('hex')

/** CPU seconds of a process so far; 0 once it is gone. */
function cpuOf(pid: number): number {
  const s = cpuSeconds(pid)
  return Number.isNaN(s) ? 0 : s
}

/** A process's children (nginx's workers under its master). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d))
    } catch {
      // gone
    }
  }
  return out
}

type Parts = Record<string, number[]>

/** Each part's CPU seconds per process now. */
function snapshot(parts: Parts): Record<string, number[]> {
  return Object.fromEntries(Object.entries(parts).map(([k, pids]) => [k, pids.map(cpuOf)]))
}

/** CPU µs per unit of each part between two snapshots, and each part's busiest process as a share of a core. */
function perUnit(before: Record<string, number[]>, after: Record<string, number[]>, units: number, seconds: number) {
  const out: Record<string, number> = {}
  for (const [k, b] of Object.entries(before)) {
    const used = after[k]!.map((a, i) => a - b[i]!)
    out[`${k}CpuUs`] = (used.reduce((x, y) => x + y, 0) * 1e6) / units
    out[`${k}Core`] = Math.max(0, ...used) / seconds
  }
  return out
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function stoa(gateways: number, workers: number, mode: string, seconds: number): Promise<void> {
  const database = `bench_scale_${tag}`
  const prefix = `bench-scale-${tag}`
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
  const dbUrl = new URL(PG_URL)
  dbUrl.pathname = `/${database}`
  const secret = randomBytes(32).toString('base64url')
  const lines: string[] = []
  let cluster: Cluster | undefined
  const db = new pg.Client({ connectionString: dbUrl.toString() })
  try {
    // The workers read it as a declared setting: 1 commits each vote in a transaction of its own.
    process.env.TALLY_BATCH_MAX = mode === 'batched' ? '100' : '1'
    cluster = await startCluster({
      gateways,
      workers,
      port: 0,
      amqpUrl: AMQP_URL,
      queueType: 'quorum',
      databaseUrl: dbUrl.toString(),
      prefix,
      jwtSecret: secret,
      log: (name, line) => {
        lines.push(`[${name}] ${line}`)
        if (lines.length > 50) lines.shift()
      },
    })
    await db.connect()
    const count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM votes')).rows[0]!.n)
    const tokens = Array.from({ length: 5000 }, (_, i) =>
      jwt.sign({ sub: `voter-${i}`, roles: ['voter'] }, secret, { algorithm: 'HS256', expiresIn: 3600 }),
    )
    let next = 0
    const load = (duration: number) =>
      autocannon({
        url: `${cluster!.url}/api/votes`,
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
    const warm = await load(1)
    await until(async () => (await count()) >= warm['2xx'], 60_000, 'the warm-up votes were not committed')
    const pidsOf = (prefixOfName: string) =>
      cluster!.processes.filter((p) => p.name.startsWith(prefixOfName)).map((p) => p.child.pid!)
    const nginx = pidsOf('nginx')
    const backends = (
      await db.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      )
    ).rows.map((r) => r.pid)
    const parts: Parts = {
      loadgen: [process.pid],
      nginx: [...nginx, ...nginx.flatMap(childrenOf)],
      gateways: pidsOf('gateway'),
      workers: pidsOf('tally'),
      services: [...pidsOf('auth'), ...pidsOf('results')],
      broker: Number.isFinite(BROKER_PID) ? [BROKER_PID] : [],
      database: backends,
    }
    const before = snapshot(parts)
    const from = await count()
    const t0 = performance.now()
    const r = await load(seconds)
    const acceptedAt = performance.now()
    const accepted = r['2xx'] as number
    await until(async () => (await count()) - from >= accepted, 120_000, 'the accepted votes were not committed')
    const doneAt = performance.now()
    const after = snapshot(parts)
    emitFigures({
      accepted: (accepted * 1000) / (acceptedAt - t0),
      ops: (accepted * 1000) / (doneAt - t0),
      errors: r.errors + r.timeouts + r.non2xx,
      p50: r.latency.p50,
      p99: r.latency.p99,
      ...perUnit(before, after, accepted, (doneAt - t0) / 1000),
    })
  } catch (err) {
    process.stderr.write(`${lines.join('\n')}\n`)
    throw err
  } finally {
    await db.end().catch(() => undefined)
    await cluster?.stop(5000)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
    await deleteTopology(prefix)
  }
}

async function deleteTopology(prefix: string): Promise<void> {
  const conn = await amqp.connect(AMQP_URL)
  try {
    const ch = await conn.createChannel()
    for (const s of ['tally', 'auth', 'results', 'vote', 'gateway']) {
      for (const q of [`${prefix}.rpc.${s}`, `${prefix}.tasks.${s}`, `${prefix}.events.${s}`, `${prefix}.dlq.${s}`])
        await ch.deleteQueue(q)
    }
    for (const ms of [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000]) await ch.deleteQueue(`${prefix}.retry.${ms}`)
    await ch.deleteExchange(`${prefix}.events`)
    await ch.deleteExchange(`${prefix}.retry`)
  } finally {
    await conn.close()
  }
}

async function raw(seconds: number): Promise<void> {
  const queue = `bench-scale-raw-${tag}`
  const pub = await amqp.connect(AMQP_URL)
  const sub = await amqp.connect(AMQP_URL)
  try {
    const pc = await pub.createConfirmChannel()
    await pc.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    const sc = await sub.createChannel()
    await sc.prefetch(256)
    let consumed = 0
    await sc.consume(queue, (m) => {
      if (m === null) return
      consumed++
      sc.ack(m)
    })
    const body = Buffer.from(
      JSON.stringify({ voteId: randomBytes(16).toString('hex'), voter: 'voter-1', choice: 'cats' }),
    )
    let stop = false
    let published = 0
    const window = 256
    const publisher = async () => {
      let inflight = 0
      let wake: (() => void) | undefined
      while (!stop) {
        if (inflight >= window) {
          await new Promise<void>((r) => (wake = r))
          continue
        }
        inflight++
        const ok = pc.publish('', queue, body, { persistent: true, contentType: 'application/json' }, (err) => {
          inflight--
          if (err == null) published++
          wake?.()
          wake = undefined
        })
        if (!ok) await new Promise((r) => pc.once('drain', r))
        else if (inflight % 64 === 0) await new Promise((r) => setImmediate(r))
      }
      while (inflight > 0) await new Promise<void>((r) => (wake = r))
    }
    const running = publisher()
    await new Promise((r) => setTimeout(r, 1000))
    const parts: Parts = { loadgen: [process.pid], broker: Number.isFinite(BROKER_PID) ? [BROKER_PID] : [] }
    const before = snapshot(parts)
    const from = consumed
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const n = consumed - from
    const t1 = performance.now()
    const after = snapshot(parts)
    stop = true
    await running
    await until(async () => consumed >= published, 30_000, 'the published messages were not consumed')
    emitFigures({
      accepted: (n * 1000) / (t1 - t0),
      ops: (n * 1000) / (t1 - t0),
      ...perUnit(before, after, n, (t1 - t0) / 1000),
    })
    await pc.deleteQueue(queue)
  } finally {
    await sub.close().catch(() => undefined)
    await pub.close().catch(() => undefined)
  }
}

if (kind === 'raw') await raw(Number(rest[0] ?? 5))
else if (kind === 'stoa') await stoa(Number(rest[0]), Number(rest[1]), rest[2] ?? 'batched', Number(rest[3] ?? 5))
else throw new Error(`run.ts stoa <gateways> <workers> <batched|unbatched> <seconds> | raw <seconds>, not "${kind}"`)
// The cluster's processes are gone; amqplib or pg may keep a socket a moment longer.
process.exit(0)
