import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { parse as parseQuery } from 'node:querystring'
import { serve as serveHono } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { validator } from 'hono/validator'
import { z } from 'zod'
import { action, createHttpTransport, createStoa, mountWeb, serveWeb, web } from './stoa.js'

/**
 * One server of the http suite, in its own process: `server.ts <kind>` listens on 127.0.0.1,
 * prints `{"url": ...}` and serves until killed. Every kind does the same work: add `left` and
 * `right` (from the query for routes, from a JSON body for acts) and answer `{"answer":3}`;
 * the `vote` kinds serve `POST /votes/:id` with a JSON body `{"choice":"a"}`, check the path
 * parameter and the body against a schema (each framework its usual way), refuse what is not
 * JSON or is over 1 MiB, and answer 202 `{"accepted":true,"id":"42","choice":"a"}`.
 */
const require = createRequire(import.meta.url)
const kind = process.argv[2]
const quiet = { error() {}, warn() {}, info() {}, debug() {} }
const sum = (left: unknown, right: unknown) => ({ answer: Number(left) + Number(right) })
const cast = (id: string, choice: string) => ({ accepted: true, id, choice })
const MAX_BODY = 1024 * 1024
const voteParams = z.object({ id: z.string().min(1) })
const voteBody = z.object({ choice: z.string().min(1) })

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
  // ---- vote routes: POST /votes/:id {"choice":"a"}, schema-checked
  case 'stoa-serve-vote': {
    // stoa owns the server; the action declares its schema, which the route's message meets.
    const stoa = createStoa({ name: 'bench', logger: quiet })
    stoa.add(
      'role:vote,cmd:cast',
      action({
        schema: z.object({ id: z.string().min(1), choice: z.string().min(1) }),
        handler: (m) => cast(m.id, m.choice),
      }),
    )
    stoa.use(web, {
      routes: { 'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 } },
      maxBodyBytes: MAX_BODY,
    })
    ready((await serveWeb(stoa)).url)
    break
  }
  case 'fastify': {
    // fastify's usual way: JSON schemas for params and body (ajv), and for the answer
    // (fast-json-stringify); its JSON body parser refuses other media types and bodies over 1 MiB.
    const app = Fastify({ logger: false, bodyLimit: MAX_BODY })
    app.post<{ Params: { id: string }; Body: { choice: string } }>(
      '/votes/:id',
      {
        schema: {
          params: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string', minLength: 1 } },
          },
          body: {
            type: 'object',
            required: ['choice'],
            properties: { choice: { type: 'string', minLength: 1 } },
          },
          response: {
            202: {
              type: 'object',
              properties: { accepted: { type: 'boolean' }, id: { type: 'string' }, choice: { type: 'string' } },
            },
          },
        },
      },
      async (req, reply) => {
        reply.code(202)
        return cast(req.params.id, req.body.choice)
      },
    )
    ready(await app.listen({ port: 0, host: '127.0.0.1' }))
    break
  }
  case 'hono':
  case 'hono-nolimit': {
    // hono's usual way: its body-limit middleware and its validator middleware with zod
    // schemas for the path parameter and the JSON body (which checks the media type).
    // `hono-nolimit` leaves out the body limit (@hono/node-server sets none): it does less
    // than the others, and shows what hono's bodyLimit costs on node.
    const app = new Hono()
    if (kind === 'hono') app.use('/votes/*', bodyLimit({ maxSize: MAX_BODY }))
    const check =
      <T>(schema: z.ZodType<T>) =>
      (value: unknown, c: { json: (v: unknown, s: 400) => Response }) => {
        const r = schema.safeParse(value)
        return r.success ? r.data : c.json({ error: { code: 'INVALID_MESSAGE' } }, 400)
      }
    app.post('/votes/:id', validator('param', check(voteParams)), validator('json', check(voteBody)), (c) =>
      c.json(cast(c.req.valid('param').id, c.req.valid('json').choice), 202),
    )
    const url = await new Promise<string>((resolve) => {
      serveHono({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve(`http://127.0.0.1:${info.port}`),
      )
    })
    ready(url)
    break
  }
  case 'node-http-vote': {
    // node's floor for the same route: match, check the media type and size, read, parse,
    // check with the same zod schemas, answer.
    const ROUTE = /^\/votes\/([^/?]+)\/?(?:\?|$)/
    const answer = (res: import('node:http').ServerResponse, status: number, value: unknown) => {
      const body = JSON.stringify(value)
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    }
    const server = createServer((req, res) => {
      const m = req.method === 'POST' ? ROUTE.exec(req.url ?? '') : null
      if (m === null) return answer(res, 404, { error: { code: 'NOT_FOUND' } })
      if (!/^application\/json\s*(?:;|$)/i.test(req.headers['content-type'] ?? ''))
        return answer(res, 415, { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } })
      const chunks: Buffer[] = []
      let size = 0
      req.on('data', (c: Buffer) => {
        size += c.length
        if (size <= MAX_BODY) chunks.push(c)
      })
      req.on('end', () => {
        if (size > MAX_BODY) return answer(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE' } })
        let body: unknown
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          return answer(res, 400, { error: { code: 'INVALID_JSON' } })
        }
        const p = voteParams.safeParse({ id: decodeURIComponent(m[1]!) })
        const b = voteBody.safeParse(body)
        if (!p.success || !b.success) return answer(res, 400, { error: { code: 'INVALID_MESSAGE' } })
        answer(res, 202, cast(p.data.id, b.data.choice))
      })
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
