import { Agent, IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { expect } from 'chai'
import type { NextFunction, Request, Response } from 'express'
import express from 'express'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { NodeMiddleware, ServeWebOptions, WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

/**
 * Writes `raw` on one connection and collects everything the server sends until it closes it
 * (the last request asks it to with `Connection: close`), or until `ms` pass.
 */
function exchange(url: string, raw: string, ms = 5000): Promise<{ text: string; statuses: number[] }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const socket = connect(Number(u.port), u.hostname)
    let text = ''
    const timer = setTimeout(
      () => socket.destroy(new Error(`no close within ${ms} ms; got ${JSON.stringify(text)}`)),
      ms,
    )
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (text += d))
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text, statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])) })
    })
    socket.write(raw)
  })
}

function mathStoa(): Stoa<any> {
  const stoa = createStoa({ name: 'serve', logger: quietLogger() })
  stoa.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
  stoa.add('role:test,cmd:echo', (m) => ({ ...m }))
  stoa.use(web, { routes: { 'GET /sum': 'role:math,cmd:sum', 'POST /echo': 'role:test,cmd:echo' }, maxBodyBytes: 64 })
  return stoa
}

describe('serveWeb on node:http', function () {
  this.timeout(10000)
  const servers: WebServer[] = []
  const instances: Stoa<any>[] = []
  const start = async (stoa: Stoa<any>, options: ServeWebOptions = {}) => {
    instances.push(stoa)
    const server = await serveWeb(stoa, options)
    servers.push(server)
    return server
  }

  after(async () => {
    for (const s of servers) await s.close()
    for (const s of instances) await s.close()
  })

  describe('HTTP/1.1 on both paths', () => {
    // The same checks on stoa's own path and through an express app holding a middleware.
    const paths: [string, () => ServeWebOptions][] = [
      ['on node:http', () => ({})],
      [
        'through express',
        () => {
          const app = express()
          app.use((_req, _res, next) => next())
          return { app }
        },
      ],
    ]
    for (const [where, options] of paths) {
      describe(where, () => {
        let url: string
        before(async () => {
          url = (await start(mathStoa(), options())).url
        })

        it('keeps the connection alive between requests', async () => {
          const agent = new Agent({ keepAlive: true, maxSockets: 1 })
          try {
            const first = await rawRequest(url, 'GET', '/sum?left=1&right=2', { agent })
            const second = await rawRequest(url, 'GET', '/sum?left=2&right=2', { agent })
            expect(first.headers.connection).to.equal('keep-alive')
            expect(second.json).to.deep.equal({ answer: 4 })
            expect(second.reused).to.equal(true)
          } finally {
            agent.destroy()
          }
        })

        it('answers pipelined requests in order, including after a body it refused unread', async () => {
          const { text, statuses } = await exchange(
            url,
            'GET /sum?left=1&right=2 HTTP/1.1\r\nHost: t\r\n\r\n' +
              'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\na=1' +
              'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}' +
              'GET /sum?left=2&right=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
          )
          expect(statuses).to.deep.equal([200, 415, 200, 200])
          const bodies = text.split(/\r\n\r\n/).filter((b) => b.startsWith('{'))
          expect(bodies.map((b) => b.slice(0, b.indexOf('HTTP/') < 0 ? undefined : b.indexOf('HTTP/')))).to.deep.equal([
            '{"answer":3}',
            '{"error":{"code":"UNSUPPORTED_MEDIA_TYPE","message":"the request body must be application/json","details":{"contentType":"text/plain"}}}',
            '{"a":1,"cmd":"echo","role":"test"}',
            '{"answer":4}',
          ])
        })

        it('closes the connection after refusing an over-long body, and answers nothing pipelined behind it', async () => {
          const pad = 'x'.repeat(100)
          const { text, statuses } = await exchange(
            url,
            `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${pad.length + 8}\r\n\r\n{"p":"${pad}"}` +
              'GET /sum?left=1&right=2 HTTP/1.1\r\nHost: t\r\n\r\n',
          )
          expect(statuses).to.deep.equal([413])
          expect(text.toLowerCase()).to.include('connection: close')
        })

        it('leaves a malformed request to node: 400 and Connection: close', async () => {
          const { text, statuses } = await exchange(url, 'NOT HTTP AT ALL\r\n\r\n')
          expect(statuses).to.deep.equal([400])
          expect(text.toLowerCase()).to.include('connection: close')
        })

        it('answers HEAD from the GET route with its headers and no body', async () => {
          const { text, statuses } = await exchange(
            url,
            'HEAD /sum?left=1&right=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
          )
          expect(statuses).to.deep.equal([200])
          expect(text.toLowerCase()).to.include('content-length: 12')
          expect(text.endsWith('\r\n\r\n')).to.equal(true)
        })

        it('answers OPTIONS and the wrong method on a known path with Allow, and any other path 404', async () => {
          const options = await rawRequest(url, 'OPTIONS', '/echo')
          expect(options.status).to.equal(204)
          expect(options.headers.allow).to.equal('POST, OPTIONS')
          const wrong = await rawRequest(url, 'PUT', '/sum')
          expect(wrong.status).to.equal(405)
          expect(wrong.headers.allow).to.equal('GET, HEAD, OPTIONS')
          expect(wrong.json.error).to.deep.include({
            code: 'METHOD_NOT_ALLOWED',
            details: { allow: ['GET', 'HEAD', 'OPTIONS'] },
          })
          expect((await rawRequest(url, 'PUT', '/nowhere')).status).to.equal(404)
        })
      })
    }
  })

  describe('no configured middleware is skipped', () => {
    it("runs a seneca-web route's middleware, the set's then the route's, and answers other routes on node:http", async () => {
      const ran: string[] = []
      const seen: IncomingMessage[] = []
      const stoa = mathStoa().use(
        web,
        {
          routes: {
            pin: 'role:math,cmd:*',
            prefix: '/mw',
            middleware: ['named'],
            map: {
              sum: {
                GET: true,
                middleware: [
                  (_req: Request, _res: Response, next: NextFunction) => {
                    ran.push('route')
                    next()
                  },
                ],
              },
            },
          },
        },
        { tag: 'mw' },
      )
      const named = (_req: Request, _res: Response, next: NextFunction) => {
        ran.push('set')
        next()
      }
      const capture: NodeMiddleware = (req, _res, next) => {
        seen.push(req)
        next()
      }
      const { url } = await start(stoa, { middleware: { named }, before: [capture] })
      expect((await rawRequest(url, 'GET', '/mw/sum?left=1&right=1')).json).to.deep.equal({ answer: 2 })
      expect(ran).to.deep.equal(['set', 'route'])
      expect((await rawRequest(url, 'GET', '/sum?left=1&right=1')).json).to.deep.equal({ answer: 2 })
      expect(ran).to.deep.equal(['set', 'route'])
      // express swaps the prototype of every request it handles: the plain route never met it.
      expect(Object.getPrototypeOf(seen[0])).to.not.equal(IncomingMessage.prototype)
      expect(Object.getPrototypeOf(seen[1])).to.equal(IncomingMessage.prototype)
    })

    it('sends every request through an app that already holds middleware or routes, in their order', async () => {
      const app = express()
      app.use((_req, res, next) => {
        res.setHeader('x-cors', 'yes')
        next()
      })
      app.get('/sum', (_req, res) => void res.json({ shadowed: true }))
      const { url } = await start(mathStoa(), { app })
      app.get('/own', (_req, res) => void res.json({ own: true }))
      const sum = await rawRequest(url, 'GET', '/sum?left=1&right=2')
      expect(sum.json).to.deep.equal({ shadowed: true })
      const echo = await rawRequest(url, 'POST', '/echo', {
        body: '{"a":1}',
        headers: { 'content-type': 'application/json' },
      })
      expect(echo.headers['x-cors']).to.equal('yes')
      expect(echo.json).to.deep.equal({ a: 1, cmd: 'echo', role: 'test' })
      expect((await rawRequest(url, 'GET', '/own')).json).to.deep.equal({ own: true })
    })

    it("answers stoa's routes on node:http when the app is empty, and gives it every other path", async () => {
      const app = express()
      const seen: IncomingMessage[] = []
      const { url } = await start(mathStoa(), {
        app,
        before: [
          (req, _res, next) => {
            seen.push(req)
            next()
          },
        ],
      })
      app.use(express.static('/nonexistent-dir-for-test'))
      app.get('/own', (_req, res) => void res.json({ own: true }))
      expect((await rawRequest(url, 'GET', '/sum?left=1&right=2')).json).to.deep.equal({ answer: 3 })
      expect((await rawRequest(url, 'GET', '/own')).json).to.deep.equal({ own: true })
      // express swaps the prototype of every request it handles: the route never met it.
      expect(Object.getPrototypeOf(seen[0])).to.equal(IncomingMessage.prototype)
      expect(Object.getPrototypeOf(seen[1])).to.not.equal(IncomingMessage.prototype)
      const missing = await rawRequest(url, 'GET', '/missing')
      expect(missing.status).to.equal(404)
      expect(missing.json.error.code).to.equal('NOT_FOUND')
    })

    it('runs `before` middleware for stoa routes, express routes and unknown paths alike, in order', async () => {
      const ran: string[] = []
      const first: NodeMiddleware = (req, _res, next) => {
        ran.push(`1 ${req.url}`)
        next()
      }
      const second: NodeMiddleware = async (req, res, next) => {
        ran.push(`2 ${req.url}`)
        res.setHeader('access-control-allow-origin', '*')
        next()
      }
      const app = express()
      const { url } = await start(mathStoa(), { app, before: [first, second] })
      app.get('/own', (_req, res) => void res.json({ own: true }))
      const sum = await rawRequest(url, 'GET', '/sum?left=1&right=2')
      expect(sum.headers['access-control-allow-origin']).to.equal('*')
      expect((await rawRequest(url, 'GET', '/own')).headers['access-control-allow-origin']).to.equal('*')
      expect((await rawRequest(url, 'GET', '/gone')).status).to.equal(404)
      expect(ran).to.deep.equal([
        '1 /sum?left=1&right=2',
        '2 /sum?left=1&right=2',
        '1 /own',
        '2 /own',
        '1 /gone',
        '2 /gone',
      ])
    })

    it('lets `before` middleware answer (a CORS preflight) and stop there', async () => {
      let reached = 0
      const preflight: NodeMiddleware = (req, res, next) => {
        if (req.method !== 'OPTIONS') return next()
        res.writeHead(204, { 'access-control-allow-methods': 'GET, POST' }).end()
      }
      const stoa = mathStoa()
      stoa.add('role:math,cmd:sum', (m) => {
        reached++
        return { answer: Number(m.left) + Number(m.right) }
      })
      const { url } = await start(stoa, { before: [preflight] })
      const res = await rawRequest(url, 'OPTIONS', '/sum')
      expect(res.status).to.equal(204)
      expect(res.headers['access-control-allow-methods']).to.equal('GET, POST')
      expect(reached).to.equal(0)
    })

    it('answers an error from `before` middleware as JSON with its status, and never runs the route', async () => {
      let reached = 0
      const stoa = mathStoa()
      stoa.add('role:math,cmd:sum', () => {
        reached++
        return { answer: 0 }
      })
      const guard: NodeMiddleware = (req, _res, next) => {
        const how = new URL(req.url!, 'http://x').searchParams.get('fail')
        if (how === 'stoa') return next(new StoaError('FORBIDDEN', 'not you'))
        if (how === 'status') return next(Object.assign(new Error('bad'), { status: 400 }))
        if (how === 'throw') throw new Error('secret detail')
        if (how === 'reject') return Promise.reject(new Error('secret detail'))
        next()
      }
      const { url } = await start(stoa, { before: [guard] })
      const forbidden = await rawRequest(url, 'GET', '/sum?fail=stoa')
      expect(forbidden.status).to.equal(403)
      expect(forbidden.json.error).to.deep.equal({ code: 'FORBIDDEN', message: 'not you' })
      const bad = await rawRequest(url, 'GET', '/sum?fail=status')
      expect(bad.status).to.equal(400)
      expect(bad.json.error.code).to.equal('INVALID_MESSAGE')
      for (const how of ['throw', 'reject']) {
        const res = await rawRequest(url, 'GET', `/sum?fail=${how}`)
        expect(res.status, how).to.equal(500)
        expect(res.json.error.code, how).to.equal('ACTION_FAILED')
        expect(res.text, how).to.not.include('secret')
      }
      expect(reached).to.equal(0)
      expect((await rawRequest(url, 'GET', '/sum')).json).to.deep.equal({ answer: 0 })
    })

    it("answers next(err) from a route's middleware as JSON, unless an error handler of the app's takes it", async () => {
      const failing = (_req: Request, _res: Response, next: NextFunction) =>
        next(Object.assign(new Error('nope'), { status: 403 }))
      const routes = { pin: 'role:math,cmd:*', prefix: '/mw', map: { sum: { GET: true, middleware: [failing] } } }
      const own = await start(mathStoa().use(web, { routes }, { tag: 'mw' }))
      const res = await rawRequest(own.url, 'GET', '/mw/sum')
      expect(res.status).to.equal(403)
      expect(res.json.error.code).to.equal('FORBIDDEN')
      const app = express()
      const theirs = await start(mathStoa().use(web, { routes }, { tag: 'mw' }), { app })
      app.use(
        (err: Error, _req: Request, res: Response, _next: NextFunction) =>
          void res.status(418).json({ handled: err.message }),
      )
      const handled = await rawRequest(theirs.url, 'GET', '/mw/sum')
      expect(handled.status).to.equal(418)
      expect(handled.json).to.deep.equal({ handled: 'nope' })
    })
  })
})
