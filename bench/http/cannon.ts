import { autocannon, cpuSeconds, emitFigures } from '../lib.js'
import { startServer } from './start.js'

/**
 * `cannon.ts <kind> <get|act> <seconds>`: starts one server of the suite in its own process,
 * checks that it answers `{"answer":3}`, then loads it with autocannon, a third process, with
 * 100 connections (100 requests in flight), and prints requests per second, latency and the
 * server's CPU time per request (µs).
 */
const [kind, mode, secondsText] = process.argv.slice(2) as [string, 'get' | 'act', string]
const seconds = Number(secondsText ?? 3)
const ACT_BODY = '{"role":"math","cmd":"sum","left":1,"right":2}'

function cannon(target: string, connections: number, duration: number): Promise<Record<string, any>> {
  const args = ['-c', String(connections), '-d', String(duration)]
  if (mode === 'act') args.push('-m', 'POST', '-H', 'content-type=application/json', '-b', ACT_BODY)
  args.push(target)
  return autocannon(args)
}

const { url, child } = await startServer(kind)
try {
  const target = mode === 'act' ? `${url}/act` : `${url}/sum?left=1&right=2`
  const check = await fetch(
    target,
    mode === 'act' ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: ACT_BODY } : {},
  )
  const text = await check.text()
  if (check.status !== 200 || JSON.stringify(JSON.parse(text)) !== '{"answer":3}')
    throw new Error(`${kind} answered ${check.status} ${text}`)
  await cannon(target, 100, 1)
  const cpu0 = cpuSeconds(child.pid!)
  const r = await cannon(target, 100, seconds)
  const cpu = cpuSeconds(child.pid!) - cpu0
  emitFigures({
    ops: r.requests.average,
    cpuUs: (cpu * 1e6) / r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  })
} finally {
  child.kill('SIGKILL')
}
