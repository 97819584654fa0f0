// One contestant of the kernel suite, run in its own process:
//   node --import tsx bench/kernel/worker.ts <stoa|stoa-hooks-0|stoa-hooks-3|stoa-string|stoa-async|stoa-schema|stoa-result|moleculer|moleculer-async|seneca|bare|patrun|router>
// Prints one JSON line: sequential and 1000-concurrent ops/s (and memory figures for stoa).
import { createRequire } from 'node:module'
import { z } from 'zod'
import { action, createStoa, definePlugin, toPattern } from '../../actions/index.js'
import { Router } from '../../actions/router.js'
import { callLoops, emitFigures, measure } from '../lib.js'

const require = createRequire(import.meta.url)
const PATTERNS = 100
const TARGET = 42
const CONCURRENCY = 1000
const who = process.argv[2] ?? 'stoa'
const ms = Number(process.env.BENCH_MS ?? 1500)
const msg = { role: 'bench', cmd: `c${TARGET}`, left: 1, right: 2 }
const sum = (m: { left: number; right: number }) => ({ answer: m.left + m.right })

function loops(call: () => Promise<unknown>) {
  return callLoops(call, ms, CONCURRENCY)
}

/** Heap retained after a million acts (after a full GC): a leak shows here. */
async function memory(call: () => Promise<unknown>) {
  const gc = (globalThis as { gc?: () => void }).gc!
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 1000; i++) {
    const batch: Promise<unknown>[] = []
    for (let j = 0; j < 1000; j++) batch.push(call())
    await Promise.all(batch)
  }
  gc()
  return {
    retainedBytesPer1M: Math.max(0, process.memoryUsage().heapUsed - before),
    rssMB: process.memoryUsage().rss / 2 ** 20,
  }
}

async function main() {
  if (who === 'bare') {
    const fns = Array.from({ length: PATTERNS }, () => async (m: typeof msg) => sum(m))
    emitFigures(await loops(() => fns[TARGET]!(msg)))
  } else if (who === 'stoa-async') {
    // Handlers that return a promise take the path that watches the deadline.
    const stoa = createStoa({ name: 'bench' })
    for (let i = 0; i < PATTERNS; i++) stoa.add(`role:bench,cmd:c${i}`, async (m) => sum(m as typeof msg))
    emitFigures(await loops(() => stoa.act(msg)))
  } else if (who === 'moleculer-async') {
    const { ServiceBroker } = require('moleculer') as typeof import('moleculer')
    const broker = new ServiceBroker({ logger: false, metrics: false, tracing: false })
    const actions: Record<string, (ctx: { params: typeof msg }) => Promise<unknown>> = {}
    for (let i = 0; i < PATTERNS; i++) actions[`c${i}`] = async (ctx) => sum(ctx.params)
    broker.createService({ name: 'bench', actions })
    await broker.start()
    const params = { left: 1, right: 2 }
    emitFigures(await loops(() => broker.call(`bench.c${TARGET}`, params)))
    await broker.stop()
  } else if (who === 'stoa-string') {
    // The form the README shows: a pattern string plus the data, merged into one message.
    const stoa = createStoa({ name: 'bench' })
    for (let i = 0; i < PATTERNS; i++) stoa.add(`role:bench,cmd:c${i}`, (m) => sum(m as typeof msg))
    await stoa.ready()
    const pattern = `role:bench,cmd:c${TARGET}`
    const data = { left: 1, right: 2 }
    emitFigures(await loops(() => stoa.act(pattern, data)))
  } else if (who === 'stoa' || who === 'stoa-schema' || who === 'stoa-result') {
    // stoa-result: the message schema and a result schema, checked (checkResults: true). With
    // checks off an action with a result schema runs as stoa-schema does: no wrapper is built.
    const stoa = createStoa({ name: 'bench', checkResults: who === 'stoa-result' })
    const schema = z.object({ left: z.number(), right: z.number() })
    const result = z.object({ answer: z.number() })
    for (let i = 0; i < PATTERNS; i++) {
      if (who === 'stoa-result') stoa.add(`role:bench,cmd:c${i}`, action({ schema, result, handler: sum }))
      else if (who === 'stoa-schema') stoa.add(`role:bench,cmd:c${i}`, action({ schema, handler: sum }))
      else stoa.add(`role:bench,cmd:c${i}`, (m) => sum(m as typeof msg))
    }
    await stoa.ready()
    const call = () => stoa.act(msg)
    const figures = await loops(call)
    emitFigures(who === 'stoa' ? { ...figures, ...(await memory(call)) } : figures)
  } else if (who === 'stoa-hooks-0' || who === 'stoa-hooks-3') {
    // hooks-0: a plugin that declares hooks but none around calls; hooks-3: three plugins whose
    // inbound hook only calls the next step. What the call path costs per hook.
    const stoa = createStoa({ name: 'bench' })
    if (who === 'stoa-hooks-0') stoa.use(definePlugin({ name: 'none', hooks: {} }))
    else
      for (const name of ['one', 'two', 'three'])
        stoa.use(definePlugin({ name, hooks: { inbound: (next) => (m, ctx) => next(m, ctx) } }))
    for (let i = 0; i < PATTERNS; i++) stoa.add(`role:bench,cmd:c${i}`, (m) => sum(m as typeof msg))
    await stoa.ready()
    emitFigures(await loops(() => stoa.act(msg)))
  } else if (who === 'moleculer') {
    const { ServiceBroker } = require('moleculer') as typeof import('moleculer')
    const broker = new ServiceBroker({ logger: false, metrics: false, tracing: false })
    const actions: Record<string, (ctx: { params: typeof msg }) => unknown> = {}
    for (let i = 0; i < PATTERNS; i++) actions[`c${i}`] = (ctx) => sum(ctx.params)
    broker.createService({ name: 'bench', actions })
    await broker.start()
    const params = { left: 1, right: 2 }
    emitFigures(await loops(() => broker.call(`bench.c${TARGET}`, params)))
    await broker.stop()
  } else if (who === 'seneca') {
    const seneca = (require('seneca') as (o: object) => any)({ log: 'silent', legacy: false })
    for (let i = 0; i < PATTERNS; i++) {
      seneca.add(`role:bench,cmd:c${i}`, (m: typeof msg, reply: (e: null, o: unknown) => void) => reply(null, sum(m)))
    }
    await new Promise<void>((r) => seneca.ready(() => r()))
    const call = () =>
      new Promise((resolve, reject) =>
        seneca.act(msg, (err: Error | null, out: unknown) => (err ? reject(err) : resolve(out))),
      )
    const seq = await measure(() => call().then(() => undefined), 1, ms)
    const conc = await measure(
      async () => {
        await Promise.all(Array.from({ length: CONCURRENCY }, call))
      },
      CONCURRENCY,
      ms,
    )
    emitFigures({ seq, conc })
  } else if (who === 'patrun' || who === 'router') {
    // The lookup alone, no call: what choosing an action costs.
    let find: () => unknown
    if (who === 'patrun') {
      const pm = (require('patrun') as () => { add(p: object, d: unknown): unknown; find(m: object): unknown })()
      for (let i = 0; i < PATTERNS; i++) pm.add({ role: 'bench', cmd: `c${i}` }, i)
      find = () => pm.find(msg)
    } else {
      const r = new Router<number>()
      for (let i = 0; i < PATTERNS; i++) r.add(toPattern({ role: 'bench', cmd: `c${i}` }), i)
      find = () => r.find(msg)
    }
    let sink = 0
    const seq = await measure(
      () => {
        for (let i = 0; i < 10_000; i++) if (find() !== undefined) sink++
      },
      10_000,
      ms,
    )
    emitFigures({ seq, conc: seq, sink: sink > 0 ? 1 : 0 })
  } else {
    throw new Error(`unknown contestant ${who}`)
  }
}

await main()
process.exit(0)
