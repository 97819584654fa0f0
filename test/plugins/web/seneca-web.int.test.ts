import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import express from 'express'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)

describe('web plugin: actions written for seneca-web', function () {
  this.timeout(15000)
  const votes = require('../../fixtures/seneca-web-votes.cjs')
  let seneca: any
  let senecaUrl: string
  let senecaServer: ReturnType<typeof createServer>
  let stoa: Stoa<any>
  let stoaServer: WebServer

  before(async () => {
    // The same plugin and route map on real seneca-web with its express adapter, behind a JSON
    // body parser as its docs advise (its own parseBody hands actions the body as a string)...
    const Seneca = require('seneca')
    const app = express()
    app.use(express.json())
    seneca = Seneca({ log: 'silent', system: { close_signals: {} } })
    seneca.use(votes)
    seneca.use(require('seneca-web'), {
      routes: [votes.routes, votes.guarded],
      adapter: require('seneca-web-adapter-express'),
      context: app,
      middleware: votes.middleware,
      options: { parseBody: false },
    })
    await new Promise<void>((resolve, reject) => seneca.ready((err: unknown) => (err ? reject(err) : resolve())))
    senecaServer = createServer(app)
    await new Promise<void>((resolve) => senecaServer.listen(0, '127.0.0.1', resolve))
    senecaUrl = `http://127.0.0.1:${(senecaServer.address() as AddressInfo).port}`
    // ...and on stoa, with seneca-web's message shape.
    stoa = createStoa({ name: 'votes', logger: quietLogger() })
      .use(votes)
      .use(web, { routes: [votes.routes, votes.guarded], message: 'seneca-web' })
    stoaServer = await serveWeb(stoa, { middleware: votes.middleware })
  })

  after(async () => {
    await stoaServer?.close()
    await stoa?.close()
    senecaServer?.close()
    await new Promise<void>((resolve) => (seneca ? seneca.close(() => resolve()) : resolve()))
  })

  const json = { 'content-type': 'application/json' }
  const requests: [string, string, string, { body?: string; headers?: Record<string, string> }, number][] = [
    ['a GET with path params and query', 'GET', '/votes/7?q=x', {}, 200],
    ['a POST with a JSON body', 'POST', '/api/cast/7?voter=v1', { body: '{"choice":"a"}', headers: json }, 200],
    ['a secure route without a user: to its fail page', 'GET', '/secure/mine', {}, 302],
    [
      'a secure route with the user set-wide middleware signed in',
      'GET',
      '/secure/mine',
      { headers: { 'x-user': 'u1' } },
      200,
    ],
    [
      'a redirect after the action',
      'POST',
      '/secure/cast?voter=v2',
      { body: '{"choice":"b"}', headers: { ...json, 'x-user': 'u2' } },
      302,
    ],
    [
      'a route middleware that answers first',
      'POST',
      '/secure/cast',
      { body: '{}', headers: { ...json, 'x-user': 'u2', 'x-block': '1' } },
      403,
    ],
    ['middleware given as one function', 'GET', '/secure/get?q=z', { headers: { 'x-block': '1' } }, 403],
    ['middleware before secure: no user, to the fail page', 'POST', '/secure/cast', { body: '{}', headers: json }, 302],
  ]
  for (const [what, method, path, opts, status] of requests) {
    it(`answers ${what} as seneca-web does: ${method} ${path}`, async () => {
      const theirs = await rawRequest(senecaUrl, method, path, opts)
      const ours = await rawRequest(stoaServer.url, method, path, opts)
      expect(theirs.status).to.equal(status)
      expect(ours.status).to.equal(status)
      expect(ours.headers.location).to.equal(theirs.headers.location)
      if (status !== 302) expect(ours.json).to.deep.equal(theirs.json)
    })
  }

  it('answers a secure route with no fail page 401 UNAUTHENTICATED', async () => {
    const s = createStoa({ logger: quietLogger() })
      .use(votes)
      .use(web, {
        routes: { pin: 'role:votes,cmd:*', map: { mine: { GET: true, secure: true } } },
        message: 'seneca-web',
      })
    const server = await serveWeb(s)
    try {
      const res = await rawRequest(server.url, 'GET', '/mine')
      expect(res.status).to.equal(401)
      expect(res.json.error.code).to.equal('UNAUTHENTICATED')
    } finally {
      await server.close()
      await s.close()
    }
  })

  it('refuses what would silently drop a protection or cannot carry over, with INVALID_OPTIONS', async () => {
    const s = createStoa({ logger: quietLogger() })
    const map = (spec: object) => ({ routes: { pin: 'role:votes,cmd:*', map: { get: { GET: true, ...spec } } } })
    const auth = () => s.use(web, map({ auth: { strategy: 'local', pass: '/', fail: '/login' } }) as never)
    expect(auth).to.throw(StoaError).with.property('code', 'INVALID_OPTIONS')
    expect(auth).to.throw(/passport/)
    expect(() => s.use(web, map({ autoreply: false }) as never, { tag: 'b' })).to.throw(/autoreply/)
    expect(() => s.use(web, map({ redirect: '/a b' }) as never, { tag: 'c' })).to.throw(/printable ASCII/)
    // A named middleware nobody gave fails the mount, before any request.
    const t = createStoa({ logger: quietLogger() })
      .use(votes)
      .use(web, map({ middleware: ['nobody'] }) as never)
    const err = (await serveWeb(t).catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('INVALID_OPTIONS')
    expect(err.message).to.match(/"nobody"/)
    await t.close()
  })
})
