import { fileURLToPath } from 'node:url'
import { autocannon, cpuSeconds, emitFigures, startServer } from '../lib.js'

/**
 * `cannon.ts <open|limited|graphql> <seconds>`: starts one server of the suite in its own
 * process, checks its answer, then loads it with autocannon (a third process, 100
 * connections): `POST /sum` for open and limited, the mutation `sum` on `POST /graphql` for
 * graphql. Prints requests per second, latency and the server's CPU time per request (µs).
 */
const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)
const body =
  kind === 'graphql'
    ? JSON.stringify({ query: 'mutation { sum(left: 1, right: 2) { answer } }' })
    : '{"left":1,"right":2}'
const expected = kind === 'graphql' ? '{"data":{"sum":{"answer":3}}}' : '{"answer":3}'

const { url, child } = await startServer(fileURLToPath(new URL('server.ts', import.meta.url)), kind)
try {
  const target = `${url}${kind === 'graphql' ? '/graphql' : '/sum'}`
  const check = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const text = await check.text()
  if (check.status !== 200 || JSON.stringify(JSON.parse(text)) !== expected)
    throw new Error(`${kind} answered ${check.status} ${text}`)
  const args = (d: number) => [
    '-c',
    '100',
    '-d',
    String(d),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    body,
    target,
  ]
  await autocannon(args(1))
  const cpu0 = cpuSeconds(child.pid!)
  const r = await autocannon(args(seconds))
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
