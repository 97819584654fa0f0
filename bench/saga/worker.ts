/**
 * One contestant of `npm run bench -- saga`, in its own process: `node worker.ts <mode>` with
 * `BENCH_SAGA_DB` (a database of the suite's own) and `BENCH_SAGA_N` (sagas per run). Runs N
 * three-step sagas, 32 at a time, each step calling the same small function, and prints one
 * JSON line `{ "ops": sagas completed per second, "cpuUs": this process's CPU per saga, µs,
 * "pgCpuUs": the CPU per saga of the PostgreSQL backends serving the suite's database, µs }`.
 *
 * - `stoa`: `stoa.saga` on the DBOS engine; each step a `saga.act` to a local action (with its
 *   undo declared), its outcome event emitted, awaited as its own process's run.
 * - `dbos`: the same workflow written directly on DBOS: three `DBOS.runStep` calls.
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { DBOS } from '@dbos-inc/dbos-sdk'
import pg from 'pg'
import { createStoa } from '../../actions/index.js'
import sagas, { createDbosEngine } from '../../plugins/saga/index.js'
import type { Figures } from '../lib.js'

const mode = process.argv[2]
const url = process.env.BENCH_SAGA_DB!
const n = Number(process.env.BENCH_SAGA_N ?? 300)
const CONCURRENCY = 32
const run = randomUUID().slice(0, 8)
const noop = () => undefined
const silent = { error: noop, warn: noop, info: noop, debug: noop }

/** What each step does: a participant's answer. */
const work = async (step: string, i: number) => ({ step, i })

async function inParallel(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await fn(next++)
    }),
  )
}

/**
 * The CPU time (µs) each PostgreSQL backend of the suite's database has used so far, by pid,
 * from /proc (the server runs on this machine); the asking connection's own left out.
 */
async function backendCpu(client: pg.Client): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  )
  const out = new Map<number, number>()
  for (const { pid } of rows) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
    if (stat === undefined) continue
    // Fields 14 and 15 (utime, stime) in clock ticks, counted after the command's closing paren.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(pid, ((Number(f[11]) + Number(f[12])) * 1e6) / TICKS_PER_S)
  }
  return out
}
/** Linux's USER_HZ, which /proc/<pid>/stat counts in. */
const TICKS_PER_S = 100

/**
 * With `BENCH_SAGA_CALLGRIND=1`, under `valgrind --tool=callgrind`: the counters are zeroed
 * before the measured sagas and dumped after them, so the dump counts their instructions
 * alone, whatever else the machine is doing.
 */
const callgrind = (op: '-z' | '-d') => {
  if (process.env.BENCH_SAGA_CALLGRIND === '1') execFileSync('callgrind_control', [op, String(process.pid)])
}

/** Runs the measured sagas: sagas per second, and this process's and PostgreSQL's CPU per saga (µs). */
async function timed(one: (i: number) => Promise<void>): Promise<Figures> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const pg0 = await backendCpu(client)
    callgrind('-z')
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await inParallel(n, one)
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    callgrind('-d')
    let pgUs = 0
    for (const [pid, us] of await backendCpu(client)) pgUs += us - (pg0.get(pid) ?? 0)
    return { ops: n / (ms / 1000), cpuUs: (cpu.user + cpu.system) / n, pgCpuUs: pgUs / n }
  } finally {
    await client.end()
  }
}

async function stoaRun(): Promise<Figures> {
  const stoa = createStoa({ name: 'bench-stoa', logger: silent, timeoutMs: 120_000 })
    .use(sagas, { engine: createDbosEngine({ url, executorId: `stoa-${run}`, takeover: false }) })
    .add('role:part,cmd:do', (msg) => work(String(msg.step), Number(msg.i)))
    .add('role:part,cmd:undo', () => ({ ok: true }))
  stoa.saga('role:bench,cmd:saga', {
    id: (msg) => String(msg.id),
    version: 1,
    async run(msg, saga) {
      for (const step of ['a', 'b', 'c'])
        await saga.act(
          step,
          { role: 'part', cmd: 'do', step, i: msg.i },
          { undo: () => ({ role: 'part', cmd: 'undo' }) },
        )
      return { i: msg.i }
    },
  })
  await stoa.ready()
  const engine = stoa.handleOf(sagas).engine
  const one = async (i: number) => {
    const id = `${run}-${i}`
    await stoa.act({ role: 'bench', cmd: 'saga', id, i })
    await engine.settled(id)
  }
  try {
    await inParallel(30, (i) => one(-1 - i))
    return await timed(one)
  } finally {
    await stoa.close()
  }
}

async function dbosRun(): Promise<Figures> {
  DBOS.setConfig({ name: `bench-dbos-${run}`, systemDatabaseUrl: url, executorID: `dbos-${run}`, logLevel: 'error' })
  const saga = DBOS.registerWorkflow(
    async (i: number) => {
      for (const step of ['a', 'b', 'c']) await DBOS.runStep(() => work(step, i), { name: step })
      return { i }
    },
    { name: 'bench-saga' },
  )
  await DBOS.launch()
  const one = async (i: number) => {
    const handle = await DBOS.startWorkflow(saga, { workflowID: `${run}-${i}` })(i)
    await handle.getResult()
  }
  try {
    await inParallel(30, (i) => one(-1 - i))
    return await timed(one)
  } finally {
    await DBOS.shutdown()
  }
}

const figures = mode === 'stoa' ? await stoaRun() : await dbosRun()
console.log(JSON.stringify(figures))
process.exit(0)
