// One contestant of the observability suite's kernel half, in its own process:
//   node --import tsx bench/observability/worker.ts <bare|observed|moleculer-observed>
// Prints one JSON line: sequential and 1000-concurrent act throughput over 100 patterns.
import { createRequire } from 'node:module'
import { callLoops, emitFigures } from '../lib.js'
import { instance } from './setup.js'

const PATTERNS = 100
const TARGET = 42
const CONCURRENCY = 1000
const who = process.argv[2] ?? 'bare'
const ms = Number(process.env.BENCH_MS ?? 1500)
const msg = { role: 'bench', cmd: `c${TARGET}`, left: 1, right: 2 }

if (who === 'moleculer-observed') {
  // The peer with what it ships for the same job switched on: its metrics registry (every
  // action's request count, latency histogram and in-flight gauge, as stoa's metrics plugin
  // keeps) and its tracer sampling every call. Neither side exports anywhere: stoa's tracing
  // runs on the OpenTelemetry API with no SDK, Moleculer's tracer has no exporter. Logging is
  // off on both per call (info logs nothing per act), so its logger is off.
  const { ServiceBroker } = createRequire(import.meta.url)('moleculer') as typeof import('moleculer')
  const broker = new ServiceBroker({
    logger: false,
    metrics: { enabled: true, reporter: [] },
    tracing: { enabled: true, exporter: [], sampling: { rate: 1 } },
  })
  const actions: Record<string, (ctx: { params: typeof msg }) => unknown> = {}
  for (let i = 0; i < PATTERNS; i++) actions[`c${i}`] = (ctx) => ({ answer: ctx.params.left + ctx.params.right })
  broker.createService({ name: 'bench', actions })
  await broker.start()
  const params = { left: 1, right: 2 }
  emitFigures(await callLoops(() => broker.call(`bench.c${TARGET}`, params), ms, CONCURRENCY))
  await broker.stop()
  process.exit(0)
}

const stoa = instance(who === 'observed')
for (let i = 0; i < PATTERNS; i++)
  stoa.add(`role:bench,cmd:c${i}`, (m) => ({ answer: Number(m.left) + Number(m.right) }))
await stoa.ready()
const call = () => stoa.act(msg)
const { seq, conc } = await callLoops(call, ms, CONCURRENCY)
emitFigures({ seq, conc })
process.exit(0)
