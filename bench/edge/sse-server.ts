import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createStoa } from '../../actions/index.js'
import web, { serveWeb } from '../../plugins/web/index.js'

/**
 * One broadcaster of the edge suite's SSE round, in its own process: `sse-server.ts
 * <stoa|handwritten>` serves `GET /live` as server-sent events and, on `POST /go?count=N&everyMs=M`,
 * emits N events M ms apart, each carrying the time it was emitted (`performance.timeOrigin +
 * performance.now()`, comparable across processes on one machine). `stoa` is the web plugin's
 * stream route fed by `stoa.emit`; `handwritten` is a bare node:http broadcaster writing each
 * event to every open response. Prints `{"url": ...}` once listening.
 */
const kind = process.argv[2]
const now = () => performance.timeOrigin + performance.now()

async function run(count: number, everyMs: number, emit: (i: number) => void | Promise<void>) {
  for (let i = 0; i < count; i++) {
    await emit(i)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
const go = (url: string | undefined) => {
  const q = new URL(url ?? '/', 'http://x').searchParams
  return { count: Number(q.get('count') ?? 100), everyMs: Number(q.get('everyMs') ?? 10) }
}

if (kind === 'stoa') {
  const quiet = { error() {}, warn() {}, info() {}, debug() {} }
  const stoa = createStoa({ name: 'bench', logger: quiet }).add('role:bench,cmd:go', {
    public: true,
    handler: (m) => {
      const { count, everyMs } = { count: Number(m.count ?? 100), everyMs: Number(m.everyMs ?? 10) }
      void run(count, everyMs, (i) => stoa.emit('bench.ticked', { i, t: now() }))
      return { ok: true }
    },
  })
  stoa.use(web, { routes: { 'POST /go': 'role:bench,cmd:go' }, streams: { '/live': 'bench.ticked' } })
  await stoa.ready()
  const server = await serveWeb(stoa)
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`)
} else {
  const open = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/live') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      res.write(': open\n\n')
      open.add(res)
      req.on('close', () => open.delete(res))
      return
    }
    if (req.method === 'POST' && req.url?.startsWith('/go')) {
      const { count, everyMs } = go(req.url)
      req.resume()
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
      void run(count, everyMs, (i) => {
        const frame = `id: ${i}\nevent: bench.ticked\ndata: ${JSON.stringify({ i, t: now() })}\n\n`
        for (const r of open) r.write(frame)
      })
      return
    }
    res.writeHead(404).end()
  })
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`),
  )
}
