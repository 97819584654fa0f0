// One contestant of the observability suite's kernel half, in its own process:
//   node --import tsx bench/observability/worker.ts <bare|observed>
// Prints one JSON line: sequential and 1000-concurrent act throughput over 100 patterns.
import { emitFigures, measure } from '../lib.js'
import { instance } from './setup.js'

const PATTERNS = 100
const TARGET = 42
const CONCURRENCY = 1000
const who = process.argv[2] ?? 'bare'
const ms = Number(process.env.BENCH_MS ?? 1500)
const msg = { role: 'bench', cmd: `c${TARGET}`, left: 1, right: 2 }

const stoa = instance(who === 'observed')
for (let i = 0; i < PATTERNS; i++) stoa.add(`role:bench,cmd:c${i}`, (m) => ({ answer: Number(m.left) + Number(m.right) }))
await stoa.ready()
const call = () => stoa.act(msg)
const seq = await measure(
  async () => {
    for (let i = 0; i < 100; i++) await call()
  },
  100,
  ms,
)
const batch: Promise<unknown>[] = new Array(CONCURRENCY)
const conc = await measure(
  async () => {
    for (let i = 0; i < CONCURRENCY; i++) batch[i] = call()
    await Promise.all(batch)
  },
  CONCURRENCY,
  ms,
)
emitFigures({ seq, conc })
process.exit(0)
