import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- saga`: three-step sagas completed per second on the local PostgreSQL,
 * stoa's sagas on the DBOS engine against the same workflow written directly on DBOS, each
 * contestant in its own process, rounds alternated, medians with spreads. `saga/dbos` is the
 * ratio (target ≥ 0.85).
 *
 * Environment: `BENCH_SAGA_ROUNDS` (default 3), `BENCH_SAGA_N` (sagas per run, default 300),
 * `PG_ADMIN_URL` (default postgres://postgres@127.0.0.1:5432/postgres).
 */
export default async function sagaSuite(): Promise<void> {
  const admin = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const db = `${process.env.STOA_TEST_DB_PREFIX ?? ''}st_bench_saga_${randomBytes(4).toString('hex')}`
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
  const env = { BENCH_SAGA_DB: dbUrl.toString() }
  const contestant = (name: string): Contestant => ({ name, file: 'saga/worker.ts', args: [name], env })
  try {
    const all = await alternate(['dbos', 'stoa'].map(contestant), Number(process.env.BENCH_SAGA_ROUNDS ?? 3))
    const table = [['contestant', 'sagas/s', 'spread', 'node CPU µs/saga', 'spread', 'postgres CPU µs/saga', 'spread']]
    const ops: Record<string, number> = {}
    const spreads: Record<string, number> = {}
    const cpuUs: Record<string, number> = {}
    const pgCpuUs: Record<string, number> = {}
    const pct = (name: string, metric: string) => `${Math.round(spr(all, name, metric) * 100)}%`
    for (const name of Object.keys(all)) {
      ops[name] = med(all, name, 'ops')
      spreads[name] = sig(spr(all, name, 'ops'))
      cpuUs[name] = sig(med(all, name, 'cpuUs'))
      pgCpuUs[name] = sig(med(all, name, 'pgCpuUs'))
      table.push([
        name,
        String(sig(ops[name])),
        pct(name, 'ops'),
        String(cpuUs[name]),
        pct(name, 'cpuUs'),
        String(pgCpuUs[name]),
        pct(name, 'pgCpuUs'),
      ])
    }
    report('saga', table, { ratios: { 'saga/dbos': ops.stoa! / ops.dbos! }, ops, spreads, cpuUs, pgCpuUs })
  } finally {
    await sql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined)
  }
}
