import { fileURLToPath } from 'node:url'
import { autocannon, emitFigures, startServer } from '../lib.js'
import { benchToken } from './token.js'

/**
 * `cannon.ts <open|jwt|jwt-nocache> <seconds>`: starts one server of the suite in its own
 * process, checks it answers `{"answer":3}` with the token (and 401 without, when protected),
 * then loads it with autocannon, a third process, 100 connections, every request carrying
 * `Authorization: Bearer <token>`; prints requests per second and latency.
 */
const [kind, secondsText] = process.argv.slice(2) as [string, string]
const seconds = Number(secondsText ?? 3)
const token = benchToken()

function cannon(target: string, duration: number): Promise<Record<string, any>> {
  return autocannon(['-c', '100', '-d', String(duration), '-H', `authorization=Bearer ${token}`, target])
}

const { url, child } = await startServer(fileURLToPath(new URL('server.ts', import.meta.url)), kind)
try {
  const target = `${url}/sum?left=1&right=2`
  const ok = await fetch(target, { headers: { authorization: `Bearer ${token}` } })
  const text = await ok.text()
  if (ok.status !== 200 || text !== '{"answer":3}') throw new Error(`${kind} answered ${ok.status} ${text}`)
  if (kind !== 'open' && (await fetch(target)).status !== 401)
    throw new Error(`${kind} answered a request without a token`)
  await cannon(target, 1)
  const r = await cannon(target, seconds)
  emitFigures({
    ops: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  })
} finally {
  child.kill('SIGKILL')
}
