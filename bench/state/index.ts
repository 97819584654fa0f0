import { randomBytes } from 'node:crypto'
import amqp from 'amqplib'
import pg from 'pg'
import { names } from '../../transports/amqp/topology.js'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- state`: what the postgres plugin's guarantees cost, on the local PostgreSQL
 * and RabbitMQ, each contestant in its own process, rounds alternated, medians with spreads.
 *
 * - `outbox/direct`: an action writing a row and sending a task through the outbox (timed until
 *   the relay published it all) over the same action committing and then sending directly
 *   (no atomicity). Target ≥ 0.8.
 * - `inbox/plain`: an idempotent action (the inbox row in its transaction) over the same
 *   transaction without the inbox. Target ≥ 0.85.
 * - `relay/raw`: the relay's confirmed publish rate over raw amqplib confirmed publishes with as
 *   many in flight as the relay's batch. Target ≥ 0.7.
 *
 * Environment: `BENCH_STATE_ROUNDS` (default 3), `BENCH_STATE_N` (operations per run, default
 * 2000), `BENCH_STATE_WARM` (messages the relay and raw contestants publish untimed first,
 * default 500), `PG_ADMIN_URL` (default postgres://postgres@127.0.0.1:5432/postgres), `BENCH_STATE_TAG`
 * (what the run's database and queue prefix begin with, default `st`: a shared machine's runs
 * apart).
 */
export default async function stateSuite(): Promise<void> {
  const admin = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const amqpUrl = process.env.STOA_AMQP_URL ?? 'amqp://127.0.0.1:5672'
  const id = randomBytes(4).toString('hex')
  const tag = process.env.BENCH_STATE_TAG ?? 'st'
  if (!/^[a-z][a-z0-9]*$/.test(tag)) throw new Error('BENCH_STATE_TAG must be lower-case letters and digits')
  const db = `${tag}_bench_${id}`
  const prefix = `${tag}.bench-${id}`
  const dbUrl = new URL(admin)
  dbUrl.pathname = `/${db}`
  const sql = async (text: string) => {
    const c = new pg.Client({ connectionString: admin })
    await c.connect()
    try {
      await c.query(text)
    } finally {
      await c.end()
    }
  }
  await sql(`CREATE DATABASE ${db}`)
  const conn = await amqp.connect(amqpUrl)
  const ch = await conn.createChannel()
  const queue = names(prefix).tasks('tally')
  await ch.assertQueue(queue, { durable: true })
  const env = { BENCH_STATE_DB: dbUrl.toString(), BENCH_STATE_PREFIX: prefix }
  const contestant = (name: string): Contestant => ({ name, file: 'state/worker.ts', args: [name], env })
  try {
    const all = await alternate(
      ['direct', 'outbox', 'plain', 'inbox', 'raw', 'relay'].map(contestant),
      Number(process.env.BENCH_STATE_ROUNDS ?? 3),
    )
    // Nothing consumes the queue: empty it so the broker's memory stays flat.
    await ch.purgeQueue(queue)
    const table = [['contestant', 'ops/s', 'spread', 'node µs/op', 'db µs/op']]
    const ops: Record<string, number> = {}
    const spreads: Record<string, number> = {}
    // CPU per operation of the contestant's process and of its database backends: steadier
    // than ops/s on a shared machine.
    const cpuUs: Record<string, number> = {}
    const dbCpuUs: Record<string, number> = {}
    for (const name of Object.keys(all)) {
      ops[name] = med(all, name, 'ops')
      spreads[name] = sig(spr(all, name, 'ops'))
      cpuUs[name] = sig(med(all, name, 'cpuUs'))
      dbCpuUs[name] = sig(med(all, name, 'dbCpuUs'))
      table.push([
        name,
        String(sig(ops[name])),
        `${Math.round(spr(all, name, 'ops') * 100)}%`,
        String(cpuUs[name]),
        String(dbCpuUs[name]),
      ])
    }
    const ratios = {
      'outbox/direct': ops.outbox! / ops.direct!,
      'inbox/plain': ops.inbox! / ops.plain!,
      'relay/raw': ops.relay! / ops.raw!,
    }
    report('state', table, { ratios, ops, spreads, cpuUs, dbCpuUs })
  } finally {
    await ch.deleteQueue(queue).catch(() => undefined)
    await conn.close().catch(() => undefined)
    await sql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined)
  }
}
