import { autocannon, cpuSeconds, emitFigures } from '../lib.js'
import { startServer } from './start.js'

/**
 * `cannon.ts <kind> <get|act> <seconds>`: starts one server of the suite in its own process,
 * checks that it answers `{"answer":3}`, then loads it with autocannon, a third process, with
 * 100 connections (100 requests in flight), and prints requests per second, latency and the
 * server's CPU time per request (µs).
 */
const [kind, mode, secondsText] = process.argv.slice(2) as [string, 'get' | 'act' | 'vote', string]
const seconds = Number(secondsText ?? 3)
const BODIES = { act: '{"role":"math","cmd":"sum","left":1,"right":2}', vote: '{"choice":"a"}' }
const EXPECTED = {
  get: [200, '{"answer":3}'],
  act: [200, '{"answer":3}'],
  vote: [202, '{"accepted":true,"id":"42","choice":"a"}'],
} as const

function cannon(target: string, connections: number, duration: number): Promise<Record<string, any>> {
  const args = ['-c', String(connections), '-d', String(duration)]
  if (mode !== 'get') args.push('-m', 'POST', '-H', 'content-type=application/json', '-b', BODIES[mode])
  args.push(target)
  return autocannon(args)
}

const { url, child } = await startServer(kind)
try {
  const target = { act: `${url}/act`, get: `${url}/sum?left=1&right=2`, vote: `${url}/votes/42` }[mode]
  const check = await fetch(
    target,
    mode === 'get' ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODIES[mode] },
  )
  const text = await check.text()
  const [status, answer] = EXPECTED[mode]
  if (check.status !== status || JSON.stringify(JSON.parse(text)) !== answer)
    throw new Error(`${kind} answered ${check.status} ${text}`)
  if (mode === 'vote') {
    // The same checks in each: a body that fails the schema and one that is not JSON are refused.
    const bad = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"vote":"a"}',
    })
    const plain = await fetch(target, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: BODIES.vote })
    if (bad.status !== 400 || plain.status < 400)
      throw new Error(`${kind} let through a bad vote: ${bad.status}, text/plain ${plain.status}`)
  }
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
