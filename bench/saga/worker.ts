/**
 * One contestant of `npm run bench -- saga`, in its own process: `node worker.ts <mode>` with
 * `BENCH_SAGA_DB` (a database of the suite's own) and `BENCH_SAGA_N` (sagas per run). Runs N
 * three-step sagas, 32 at a time, each step calling the same small function, and prints one
 * JSON line `{ "ops": sagas completed per second }`.
 *
 * - `stoa`: `stoa.saga` on the DBOS engine; each step a `saga.act` to a local action (with its
 *   undo declared), the saga's status recorded at each step, its outcome event emitted.
 * - `dbos`: the same workflow written directly on DBOS: three `DBOS.runStep` calls.
 */
import { randomUUID } from 'node:crypto'
import { DBOS } from '@dbos-inc/dbos-sdk'
import { createStoa } from '../../actions/index.js'
import sagas, { createDbosEngine } from '../../plugins/saga/index.js'

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

async function stoaRun(): Promise<number> {
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
    const t0 = performance.now()
    await inParallel(n, one)
    return n / ((performance.now() - t0) / 1000)
  } finally {
    await stoa.close()
  }
}

async function dbosRun(): Promise<number> {
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
    const t0 = performance.now()
    await inParallel(n, one)
    return n / ((performance.now() - t0) / 1000)
  } finally {
    await DBOS.shutdown()
  }
}

const ops = mode === 'stoa' ? await stoaRun() : await dbosRun()
console.log(JSON.stringify({ ops }))
process.exit(0)
