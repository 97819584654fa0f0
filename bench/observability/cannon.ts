// `cannon.ts <bare-web|observed-web> <seconds>`: starts one server of the suite in its own
// process, checks its answer, loads it with autocannon (a third process, 100 connections) and
// prints requests per second and latency.
import { fileURLToPath } from 'node:url'
import { autocannon, emitFigures, startServer } from '../lib.js'

const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)

function cannon(target: string, duration: number): Promise<Record<string, any>> {
  return autocannon(['-c', '100', '-d', String(duration), target])
}

const { url, child } = await startServer(fileURLToPath(new URL('server.ts', import.meta.url)), kind)
try {
  const target = `${url}/sum?left=1&right=2`
  const check = await fetch(target)
  const text = await check.text()
  if (check.status !== 200 || text !== '{"answer":3}') throw new Error(`${kind} answered ${check.status} ${text}`)
  await cannon(target, 1)
  const r = await cannon(target, seconds)
  emitFigures({ ops: r.requests.average, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx })
} finally {
  child.kill('SIGKILL')
}
process.exit(0)
