import type { HttpRequest } from '../../actions/transport.js'
import { createWebPipeline, webRoutes } from '../../actions/transport.js'
import { emitFigures } from '../lib.js'
import { edgeService } from './service.js'

/**
 * `pipeline.ts <open|limited> <seconds>`: the suite's `POST /sum` answered by the web
 * pipeline in this process, with no socket, one request at a time: what the route costs on
 * the CPU, which a loaded machine's socket benchmark blurs. Prints requests per second and CPU
 * per request (µs, this process: user + system).
 */
const [kind, secondsText] = process.argv.slice(2) as [string, string]
const stoa = await edgeService(kind)
const pipeline = createWebPipeline(stoa, await webRoutes(stoa))
const body = Buffer.from('{"left":1,"right":2}')
const request: HttpRequest = {
  method: 'POST',
  path: '/sum',
  query: undefined,
  headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' },
  body: () => body,
}
const check = await pipeline.handle(request)
if (typeof check !== 'object' || !('status' in check) || check.status !== 200 || check.body !== '{"answer":3}')
  throw new Error(`${kind} answered ${JSON.stringify(check)}`)

const run = async (ms: number): Promise<{ n: number; cpuUs: number; wallMs: number }> => {
  const until = performance.now() + ms
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let n = 0
  while (performance.now() < until) {
    for (let i = 0; i < 256; i++) await pipeline.handle(request)
    n += 256
  }
  const cpu = process.cpuUsage(cpu0)
  return { n, cpuUs: cpu.user + cpu.system, wallMs: performance.now() - t0 }
}
await run(500)
const r = await run(Number(secondsText ?? 3) * 1000)
emitFigures({ ops: (r.n * 1000) / r.wallMs, cpuUs: r.cpuUs / r.n })
await stoa.close()
