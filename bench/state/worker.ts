/**
 * One contestant of `npm run bench -- state`, in its own process: `node worker.ts <mode>`,
 * with `BENCH_STATE_DB` (a database of the suite's own), `BENCH_STATE_PREFIX` (the AMQP prefix,
 * whose `tally` task queue the suite declared) and `BENCH_STATE_N` (operations). Prints one JSON
 * line `{ "ops": … }`.
 *
 * - `outbox`: an action writes a row and `tx.send`s a task through the outbox; timed until the
 *   relay has published every task (confirmed) and emptied the outbox.
 * - `direct`: the same action writes the row, commits, then `ctx.send`s the task (confirmed):
 *   no atomicity, the reference.
 * - `inbox`: an idempotent action (its key in the inbox, in its transaction) writes a row.
 * - `plain`: the same transaction without the inbox.
 * - `relay`: the outbox holds N rows; timed from the relay's start until all are published,
 *   after it has published `BENCH_STATE_WARM` (500) untimed.
 * - `raw`: amqplib publishes N persistent messages on a confirm channel, 100 in flight (the
 *   relay's batch), to the same queue, after as many untimed: the practical limit of the relay.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import amqp from 'amqplib'
import type { Context } from '../../actions/index.js'
import { createStoa } from '../../actions/index.js'
import type { Sql } from '../../plugins/postgres/index.js'
import postgres from '../../plugins/postgres/index.js'
import { createAmqpTransport } from '../../transports/amqp/index.js'
import { names } from '../../transports/amqp/topology.js'

const mode = process.argv[2]
const url = process.env.BENCH_STATE_DB!
const prefix = process.env.BENCH_STATE_PREFIX!
const amqpUrl = process.env.STOA_AMQP_URL ?? 'amqp://127.0.0.1:5672'
const n = Number(process.env.BENCH_STATE_N ?? 2000)
/**
 * Messages the `relay` and `raw` contestants publish before the timed part (as the others make
 * 200 warm-up calls): the rate measured is the steady one, not V8 compiling the publish path
 * and the first send declaring the task queue, which at 2000 messages was half the relay's CPU.
 */
const WARM = Number(process.env.BENCH_STATE_WARM ?? 500)
/** Calls in flight at once: a gateway under load. */
const CONCURRENCY = 32
const run = randomUUID().slice(0, 8)
const noop = () => undefined
/** This process's CPU (user + system) at the start of the timed part. */
let cpu0 = process.cpuUsage()
/** CPU of the database's server processes serving this one (local PostgreSQL), ms: start, end. */
let db0: number | undefined
let db1: number | undefined
let serverMs: (() => Promise<number | undefined>) | undefined
const timed = async () => {
  db0 = await serverMs?.()
  cpu0 = process.cpuUsage()
  return performance.now()
}
const stopped = async (t0: number) => {
  const ops = n / ((performance.now() - t0) / 1000)
  db1 = await serverMs?.()
  return ops
}

const silent = { error: noop, warn: noop, info: noop, debug: noop }

async function inParallel(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await fn(next++)
    }),
  )
}

async function main(): Promise<number> {
  if (mode === 'raw') {
    const conn = await amqp.connect(amqpUrl)
    const ch = await conn.createConfirmChannel()
    const q = names(prefix).tasks('tally')
    const body = Buffer.from(JSON.stringify({ voter: 'v', n: 0 }))
    const publishAll = async (count: number) => {
      for (let i = 0; i < count; i += 100) {
        const batch = Math.min(100, count - i)
        await Promise.all(
          Array.from(
            { length: batch },
            () =>
              new Promise<void>((resolve, reject) =>
                ch.publish(
                  '',
                  q,
                  body,
                  { persistent: true, contentType: 'application/json', messageId: randomUUID() },
                  (err) => (err ? reject(err) : resolve()),
                ),
              ),
          ),
        )
      }
    }
    await publishAll(WARM)
    const t0 = await timed()
    await publishAll(n)
    const ops = n / ((performance.now() - t0) / 1000)
    await conn.close()
    return ops
  }
  const stoa = createStoa({ name: 'gateway', logger: silent, timeoutMs: 120_000 })
    .use(postgres, {
      url,
      poolSize: 10,
      migrations: [
        { version: 1, name: 'rows', sql: 'CREATE TABLE IF NOT EXISTS bench_rows (id text PRIMARY KEY, v int)' },
      ],
      relay: { paused: mode === 'relay', sweepMs: 200 },
    })
    .client(createAmqpTransport({ url: amqpUrl, prefix }))
  const pg = () => stoa.handleOf(postgres)
  const insert = 'INSERT INTO bench_rows (id, v) VALUES ($1, $2)'
  stoa.add('role:bench,cmd:outbox', (msg, ctx) =>
    pg().transaction(ctx, async (tx) => {
      await tx.query(insert, [`${run}-${msg.i}`, msg.i])
      await tx.send('tally.vote.record', { voter: 'v', n: msg.i })
    }),
  )
  stoa.add('role:bench,cmd:direct', async (msg, ctx: Context) => {
    await pg().transaction(ctx, (tx) => tx.query(insert, [`${run}-${msg.i}`, msg.i]))
    await ctx.send('tally.vote.record', { voter: 'v', n: msg.i })
  })
  const write = (msg: Record<string, unknown>, ctx: Context) =>
    pg().transaction(ctx, (tx) => tx.query(insert, [`${run}-${msg.i}`, msg.i]))
  stoa.add('role:bench,cmd:inbox', { idempotent: true, handler: write })
  stoa.add('role:bench,cmd:plain', write)
  await stoa.ready()
  serverMs = () => backendsMs(pg().db)
  try {
    if (mode === 'relay') {
      const fill = async (count: number) => {
        for (let i = 0; i < count; i += 500) {
          await pg().transaction(undefined, async (tx) => {
            for (let j = i; j < Math.min(count, i + 500); j++) await tx.send('tally.vote.record', { voter: 'v', n: j })
          })
        }
      }
      await fill(WARM)
      const warmed = await pg().relay.flush()
      if (warmed !== WARM) throw new Error(`published ${warmed} of ${WARM} warming up`)
      await fill(n)
      const t0 = await timed()
      const published = await pg().relay.flush()
      if (published !== n) throw new Error(`published ${published} of ${n}`)
      return stopped(t0)
    }
    const pattern = `role:bench,cmd:${mode}`
    // Warm up: JIT, pool, channel.
    await inParallel(200, (i) => stoa.act(pattern, { i: -1 - i }))
    const relayed = (count: number) => pg().relay.published >= count
    if (mode === 'outbox') while (!relayed(200)) await new Promise((r) => setTimeout(r, 5))
    const t0 = await timed()
    await inParallel(n, (i) => stoa.act(pattern, { i }))
    // Timed until the relay has published (confirmed) and deleted every task.
    if (mode === 'outbox') while (!relayed(200 + n)) await new Promise((r) => setTimeout(r, 2))
    return stopped(t0)
  } finally {
    await stoa.close()
  }
}

/**
 * The CPU time so far of the server processes of this database's connections, ms, read from
 * /proc (PostgreSQL on this machine; undefined elsewhere). Backends that ended are not counted.
 */
async function backendsMs(db: { query: Sql['query'] }): Promise<number | undefined> {
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  )
  let ticks = 0
  for (const { pid } of rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(f[11]) + Number(f[12])
    } catch {
      return undefined
    }
  }
  // Clock ticks of 10 ms (USER_HZ 100).
  return ticks * 10
}

const ops = await main()
const cpu = process.cpuUsage(cpu0)
// CPU per operation over the timed part, µs, of this process and of the database's server
// processes: steadier than ops/s on a shared machine.
const figures: Record<string, number> = { ops, cpuUs: (cpu.user + cpu.system) / n }
if (db0 !== undefined && db1 !== undefined) figures.dbCpuUs = ((db1 - db0) * 1000) / n
console.log(JSON.stringify(figures))
process.exit(0)
