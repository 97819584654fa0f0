/**
 * One contestant of `npm run bench -- saga`, in its own process: `node worker.ts <mode>` with
 * `BENCH_SAGA_DB` (a database of the suite's own) and `BENCH_SAGA_N` (sagas per run). Runs N
 * three-step sagas, 32 at a time, each step calling the same small function, and prints one
 * JSON line `{ "ops": sagas completed per second, "cpuUs": this process's CPU per saga, µs }`.
 *
 * - `stoa`: `stoa.saga` on the DBOS engine; each step a `saga.act` to a local action (with its
 *   undo declared), its outcome event emitted, awaited as its own process's run.
 * - `dbos`: the same workflow written directly on DBOS: three `DBOS.runStep` calls.
 */
import { randomUUID } from 'node:crypto'
import { DBOS } from '@dbos-inc/dbos-sdk'
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

/** Runs the measured sagas: sagas per second, and this process's CPU per saga (µs). */
async function timed(one: (i: number) => Promise<void>): Promise<Figures> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await inParallel(n, one)
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  return { ops: n / (ms / 1000), cpuUs: (cpu.user + cpu.system) / n }
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
