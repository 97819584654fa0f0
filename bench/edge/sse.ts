import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { emitFigures, startServer } from '../lib.js'

/**
 * `sse.ts <stoa|handwritten> <clients> <events>`: starts one broadcaster in its own process,
 * opens `clients` server-sent-event connections to it from this process, has it emit `events`
 * events 10 ms apart, and prints deliveries per second (every event at every client, from
 * the first emit to the last delivery) and the p50/p99 time from emit to client, ms.
 */
const [kind, clientsText, eventsText] = process.argv.slice(2) as [string, string, string]
const clients = Number(clientsText ?? 1000)
const events = Number(eventsText ?? 200)
const now = () => performance.timeOrigin + performance.now()

const { url, child } = await startServer(fileURLToPath(new URL('sse-server.ts', import.meta.url)), kind)
try {
  const latencies: number[] = []
  let first = Number.POSITIVE_INFINITY
  let last = 0
  const target = new URL('/live', url)
  let opened = 0
  const conns: ReturnType<typeof request>[] = []
  await new Promise<void>((resolve, reject) => {
    for (let c = 0; c < clients; c++) {
      const req = request(target, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`${kind} answered ${res.statusCode}`))
        if (++opened === clients) resolve()
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          let at = buf.indexOf('\n\n')
          while (at >= 0) {
            const record = buf.slice(0, at)
            buf = buf.slice(at + 2)
            const data = record.split('\n').find((l) => l.startsWith('data:'))
            if (data !== undefined) {
              const t = (JSON.parse(data.slice(5)) as { t: number }).t
              const arrived = now()
              if (t < first) first = t
              last = arrived
              latencies.push(arrived - t)
            }
            at = buf.indexOf('\n\n')
          }
        })
      })
      req.on('error', reject)
      req.end()
      conns.push(req)
    }
  })
  const go = await fetch(`${url}/go?count=${events}&everyMs=10`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count: events, everyMs: 10 }),
  })
  if (go.status !== 200) throw new Error(`${kind} /go answered ${go.status}`)
  const expected = clients * events
  const deadline = Date.now() + 60_000
  while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  emitFigures({
    ops: (latencies.length * 1000) / (last - first),
    p50: at(0.5),
    p99: at(0.99),
    errors: expected - latencies.length,
  })
  for (const c of conns) c.destroy()
} finally {
  child.kill('SIGKILL')
}
