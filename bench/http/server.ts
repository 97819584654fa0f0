import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { parse as parseQuery } from 'node:querystring'
import express from 'express'
import { createStoa } from '../../actions/index.js'
import web, { mountWeb, serveWeb } from '../../plugins/web/index.js'
import { createHttpTransport } from '../../transports/http/index.js'

/**
 * One server of the http suite, in its own process: `server.ts <kind>` listens on 127.0.0.1,
 * prints `{"url": ...}` and serves until killed. Every kind does the same work: add `left` and
 * `right` (from the query for routes, from a JSON body for acts) and answer `{"answer":3}`.
 */
const require = createRequire(import.meta.url)
const kind = process.argv[2]
const quiet = { error() {}, warn() {}, info() {}, debug() {} }
const sum = (left: unknown, right: unknown) => ({ answer: Number(left) + Number(right) })

function ready(url: string): void {
  process.stdout.write(`${JSON.stringify({ url })}\n`)
}

function listen(server: ReturnType<typeof createServer>): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  )
}

function freePort(): Promise<number> {
  const probe = createServer()
  return listen(probe).then((url) => new Promise((resolve) => probe.close(() => resolve(Number(new URL(url).port)))))
}

switch (kind) {
  // ---- routes: GET /sum?left=1&right=2
  case 'express': {
    const app = express()
    app.disable('x-powered-by')
    app.get('/sum', (req, res) => void res.json(sum(req.query.left, req.query.right)))
    ready(await listen(createServer(app)))
    break
  }
  case 'express-mw': {
    // express's own floor: one middleware answering from the raw request, no router or res.json.
    const app = express()
    app.disable('x-powered-by')
    app.use((req, res, next) => {
      const url = req.url
      const q = url.indexOf('?')
      if (req.method !== 'GET' || (q < 0 ? url : url.slice(0, q)) !== '/sum') return next()
      const query = parseQuery(q < 0 ? '' : url.slice(q + 1))
      const body = JSON.stringify(sum(query.left, query.right))
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
    ready(await listen(createServer(app)))
    break
  }
  case 'stoa-web': {
    // stoa's routes inside the user's own express app.
    const stoa = createStoa({ name: 'bench', logger: quiet })
    stoa.add('role:math,cmd:sum', (m) => sum(m.left, m.right))
    stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
    const app = express()
    app.disable('x-powered-by')
    await mountWeb(stoa, app)
    ready(await listen(createServer(app)))
    break
  }
  case 'stoa-serve': {
    // stoa owns the server: its routes on node:http.
    const stoa = createStoa({ name: 'bench', logger: quiet })
    stoa.add('role:math,cmd:sum', (m) => sum(m.left, m.right))
    stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
    ready((await serveWeb(stoa)).url)
    break
  }
  case 'seneca-web': {
    const Seneca = require('seneca')
    const app = express()
    app.disable('x-powered-by')
    const seneca = Seneca({ log: 'silent', system: { close_signals: {} } })
    seneca.add('role:math,cmd:sum', (m: any, done: any) => done(null, sum(m.args.query.left, m.args.query.right)))
    seneca.use(require('seneca-web'), {
      routes: [{ pin: 'role:math,cmd:*', map: { sum: { GET: true } } }],
      adapter: require('seneca-web-adapter-express'),
      context: app,
      options: { parseBody: false },
    })
    await new Promise<void>((r) => seneca.ready(() => r()))
    ready(await listen(createServer(app)))
    break
  }
  case 'moleculer-web': {
    const { ServiceBroker } = require('moleculer')
    const ApiService = require('moleculer-web')
    const port = await freePort()
    const broker = new ServiceBroker({ logger: false, metrics: false, tracing: false })
    broker.createService({ name: 'math', actions: { sum: (ctx: any) => sum(ctx.params.left, ctx.params.right) } })
    broker.createService({
      name: 'api',
      mixins: [ApiService],
      settings: {
        port,
        ip: '127.0.0.1',
        logRequest: null,
        logResponse: null,
        routes: [{ path: '/', aliases: { 'GET sum': 'math.sum' } }],
      },
    })
    await broker.start()
    ready(`http://127.0.0.1:${port}`)
    break
  }
  case 'node-http-get': {
    const server = createServer((req, res) => {
      const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
      const body = JSON.stringify(sum(q.get('left'), q.get('right')))
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })
    ready(await listen(server))
    break
  }
  // ---- acts: POST /act {"role":"math","cmd":"sum","left":1,"right":2}
  case 'stoa-http': {
    const stoa = createStoa({ name: 'bench', logger: quiet })
    stoa.add('role:math,cmd:sum', (m) => sum(m.left, m.right))
    const transport = createHttpTransport()
    stoa.listen(transport)
    await stoa.ready()
    ready(transport.address()!)
    break
  }
  case 'node-http': {
    // The same work as a listener, with nothing but node:http: read, parse, add, answer.
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
        const body = JSON.stringify(sum(msg.left, msg.right))
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
    })
    ready(await listen(server))
    break
  }
  case 'seneca-http': {
    const Seneca = require('seneca')
    const port = await freePort()
    const seneca = Seneca({ log: 'silent', system: { close_signals: {} } })
    seneca.add('role:math,cmd:sum', (m: any, done: any) => done(null, sum(m.left, m.right)))
    seneca.listen({ type: 'http', port, host: '127.0.0.1' })
    await new Promise<void>((r) => seneca.ready(() => r()))
    ready(`http://127.0.0.1:${port}`)
    break
  }
  default:
    process.stderr.write(`unknown server kind ${String(kind)}\n`)
    process.exit(2)
}
