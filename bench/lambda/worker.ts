// One contestant of the lambda suite, run in its own process:
//   node --import tsx bench/lambda/worker.ts <stoa|handwritten|hono|express|web-floor|cold-<stoa|handwritten|hono|express>>
// Prints one JSON line: API Gateway v2 events handled per second (sequential, awaited one by
// one as the Lambda runtime does), or the median cold start of the handler module, from its
// import to its first answer, each sample in a fresh process.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { emitFigures, measure, median } from '../lib.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const modules: Record<string, string> = {
  stoa: 'bench/lambda/stoa-handler.mjs',
  handwritten: 'bench/lambda/handwritten-handler.mjs',
  hono: 'bench/lambda/hono-handler.mjs',
  express: 'bench/lambda/express-handler.mjs',
}
const who = process.argv[2] ?? 'stoa'
const ms = Number(process.env.BENCH_MS ?? 1500)

/** AWS's sample HTTP API event, made a request for the route: `POST /votes/42` with a JSON body. */
function event() {
  const e = JSON.parse(readFileSync(`${root}test/fixtures/lambda/apigw-v2.json`, 'utf8'))
  e.rawPath = '/votes/42'
  e.requestContext.http.method = 'POST'
  e.requestContext.http.path = '/votes/42'
  e.rawQueryString = ''
  delete e.queryStringParameters
  e.headers = { 'content-type': 'application/json', 'user-agent': 'bench', 'x-forwarded-for': '192.0.2.1' }
  e.body = '{"choice":"a"}'
  return e
}

/** A context as the Node runtime passes it: a function with 3 s left. */
const context = { awsRequestId: 'bench', functionName: 'votes', getRemainingTimeInMillis: () => 3000 }

async function main() {
  if (who.startsWith('cold-')) {
    const module = modules[who.slice(5)]!
    const runs = Number(process.env.BENCH_COLD_RUNS ?? 11)
    const times: number[] = []
    const cpus: number[] = []
    const asJson = JSON.stringify(event())
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, [`${root}bench/lambda/cold.mjs`, `${root}${module}`, asJson], {
        encoding: 'utf8',
      })
      if (r.status !== 0) throw new Error(`${who} failed: ${r.stderr}`)
      const [ms, cpu] = r.stdout.trim().split(' ').map(Number)
      times.push(ms!)
      cpus.push(cpu!)
    }
    emitFigures({
      ms: median(times),
      cpuMs: median(cpus),
      ops: 1000 / median(times),
      min: Math.min(...times),
      max: Math.max(...times),
    })
    return
  }
  const e = event()
  if (who === 'web-floor') {
    // What the handler cannot go below: the web pipeline's own steps for this request (match
    // the route, parse the body, run the action, build the answer), without reading the event
    // or writing the API Gateway answer. Shows how the handler's cost divides.
    const kit = (await import(`${root}dist/actions/transport.js`)) as typeof import('../../actions/transport.js')
    const { handler } = (await import(`${root}${modules.stoa!}`)) as {
      handler: {
        ready(): Promise<void>
        stoa: Parameters<typeof kit.createWebPipeline>[0] & Parameters<typeof kit.webRoutes>[0]
      }
    }
    await handler.ready()
    const pipeline = kit.createWebPipeline(handler.stoa, await kit.webRoutes(handler.stoa))
    const request = {
      method: 'POST',
      path: e.rawPath,
      query: undefined,
      headers: e.headers,
      body: () => e.body,
      limitMs: 2500,
    }
    const once = async () => (await pipeline.handle(request)) as { status: number }
    if ((await once()).status !== 202) throw new Error('web-floor did not answer 202')
    emitFigures({
      ops: await measure(
        async () => {
          for (let i = 0; i < 100; i++) await once()
        },
        100,
        ms,
      ),
    })
    return
  }
  const { handler } = (await import(`${root}${modules[who]!}`)) as {
    handler: (e: unknown, c: unknown) => Promise<{ statusCode: number; body: string }>
  }
  // Both must give the same answer, so a broken contestant cannot post a fast figure.
  const first = await handler(e, context)
  if (first.statusCode !== 202 || JSON.parse(first.body).id !== '42')
    throw new Error(`${who} answered ${JSON.stringify(first)}`)
  const ops = await measure(
    async () => {
      for (let i = 0; i < 100; i++) await handler(e, context)
    },
    100,
    ms,
  )
  // CPU per event, apart from the rate: a handler that waits on the event loop (a body read
  // through streams) loses wall time on a busy machine that its CPU figure does not show.
  const n = 20_000
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) await handler(e, context)
  const used = process.cpuUsage(before)
  emitFigures({ ops, cpuUs: (used.user + used.system) / n })
}

await main()
