// One contestant of the observability suite's kernel half, in its own process:
//   node --import tsx bench/observability/worker.ts <bare|observed>
// Prints one JSON line: sequential and 1000-concurrent act throughput over 100 patterns.
import { callLoops, emitFigures } from '../lib.js'
import { instance } from './setup.js'

const PATTERNS = 100
const TARGET = 42
const CONCURRENCY = 1000
const who = process.argv[2] ?? 'bare'
const ms = Number(process.env.BENCH_MS ?? 1500)
const msg = { role: 'bench', cmd: `c${TARGET}`, left: 1, right: 2 }

const stoa = instance(who === 'observed')
for (let i = 0; i < PATTERNS; i++)
  stoa.add(`role:bench,cmd:c${i}`, (m) => ({ answer: Number(m.left) + Number(m.right) }))
await stoa.ready()
const call = () => stoa.act(msg)
const { seq, conc } = await callLoops(call, ms, CONCURRENCY)
emitFigures({ seq, conc })
process.exit(0)
