import { expect } from 'chai'
import express from 'express'
import { z } from 'zod'
import type { ErrorCode, Stoa } from '../../../actions/index.js'
import { action, createStoa, ERROR_CODES, ERRORS, StoaError } from '../../../actions/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { mountWeb, serveWeb } from '../../../plugins/web/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

describe('web plugin on express', function () {
  this.timeout(10000)
  let stoa: Stoa<any>
  let server: WebServer
  let url: string

  const seen: {
    msg: Record<string, unknown>
    token?: string | undefined
    headers: Record<string, string>
    id: string
    caller?: string | undefined
  }[] = []

  before(async () => {
    stoa = createStoa({ name: 'gateway', logger: quietLogger() })
    stoa.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
    stoa.add('role:vote,cmd:cast', (m, ctx) => {
      seen.push({ msg: { ...m }, token: ctx.token, headers: { ...ctx.headers }, id: ctx.id, caller: ctx.caller })
      return { accepted: true, id: m.id, role: m.role, choice: m.choice }
    })
    stoa.add(
      'role:vote,cmd:typed',
      action({ schema: z.object({ left: z.number() }), handler: (m) => ({ left: m.left }) }),
    )
    stoa.add('role:test,cmd:fail', (m) => {
      throw new StoaError(m.code as ErrorCode, `failed with ${String(m.code)}`, { n: 1 })
    })
    stoa.add('role:test,cmd:crash', () => {
      throw new Error('secret postgres://u:p@db')
    })
    stoa.add('role:test,cmd:nothing', () => undefined)
    stoa.add('role:test,cmd:slow', () => new Promise((r) => setTimeout(() => r('late'), 1000)))
    stoa.add('role:test,cmd:echo', (m) => ({
      keys: Object.keys(m).sort(),
      protoIsObject: Object.getPrototypeOf(m) === Object.prototype,
    }))
    stoa.use(web, {
      routes: {
        'GET /sum': 'role:math,cmd:sum',
        'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 },
        'POST /typed': 'role:vote,cmd:typed',
        'GET /fail/:code': 'role:test,cmd:fail',
        'GET /crash': 'role:test,cmd:crash',
        'DELETE /nothing': 'role:test,cmd:nothing',
        'PUT /nothing': { pattern: 'role:test,cmd:nothing', status: 202 },
        'POST /echo': 'role:test,cmd:echo',
      },
      headers: ['x-tenant'],
      maxBodyBytes: 1024,
    })
    stoa.use(
      web,
      { routes: { pin: 'role:math,cmd:*', prefix: '/seneca', map: { sum: { GET: true, POST: true } } } },
      { tag: 'legacy' },
    )
    stoa.use(web, { routes: { 'GET /slow': 'role:test,cmd:slow' }, timeoutMs: 100 }, { tag: 'slow' })
    server = await serveWeb(stoa)
    url = server.url
  })

  after(async () => {
    await server?.close()
    await stoa?.close()
  })

  it('answers a GET route from the query: GET /sum?left=1&right=2 gives {"answer":3}', async () => {
    const res = await rawRequest(url, 'GET', '/sum?left=1&right=2')
    expect(res.status).to.equal(200)
    expect(res.headers['content-type']).to.match(/^application\/json/)
    expect(res.text).to.equal('{"answer":3}')
  })

  it('serves a seneca-web route map, for each method it lists', async () => {
    expect((await rawRequest(url, 'GET', '/seneca/sum?left=2&right=3')).json).to.deep.equal({ answer: 5 })
    const post = await rawRequest(url, 'POST', '/seneca/sum', {
      body: '{"left":4,"right":5}',
      headers: { 'content-type': 'application/json' },
    })
    expect(post.json).to.deep.equal({ answer: 9 })
  })

  it('answers with the status the route asks for, and lets path params beat body and query', async () => {
    const res = await rawRequest(url, 'POST', '/votes/7?choice=q&id=q', {
      body: JSON.stringify({ choice: 'a', id: 'body' }),
      headers: { 'content-type': 'application/json' },
    })
    expect(res.status).to.equal(202)
    expect(res.json).to.deep.equal({ accepted: true, id: '7', role: 'vote', choice: 'a' })
  })

  it("never lets the body or query override the pattern's own keys", async () => {
    const res = await rawRequest(url, 'POST', '/votes/1?role=math&cmd=sum', {
      body: JSON.stringify({ role: 'math', cmd: 'sum', left: 1, right: 2 }),
      headers: { 'content-type': 'application/json' },
    })
    expect(res.status).to.equal(202)
    expect(res.json.role).to.equal('vote')
    expect(seen.at(-1)!.msg.cmd).to.equal('cast')
  })

  it('passes the bearer token, the request id and the selected headers to ctx', async () => {
    await rawRequest(url, 'POST', '/votes/2', {
      body: '{}',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer aa.bb.cc',
        'x-request-id': 'req-123',
        'x-tenant': 't1',
        'x-secret': 'no',
      },
    })
    const last = seen.at(-1)!
    expect(last.token).to.equal('aa.bb.cc')
    expect(last.id).to.equal('req-123')
    expect(last.caller).to.equal('http')
    expect(last.headers).to.deep.equal({ 'x-tenant': 't1' })
  })

  it('answers an Authorization header that is not a bearer token with 401 UNAUTHENTICATED', async () => {
    const res = await rawRequest(url, 'GET', '/sum?left=1&right=1', { headers: { authorization: 'Basic dTpw' } })
    expect(res.status).to.equal(401)
    expect(res.json.error.code).to.equal('UNAUTHENTICATED')
  })

  it('answers every error code with its status and a JSON error body', async () => {
    for (const code of ERROR_CODES) {
      const res = await rawRequest(url, 'GET', `/fail/${code}`)
      expect(res.status, code).to.equal(ERRORS[code].http)
      expect(res.json, code).to.deep.equal({ error: { code, message: `failed with ${code}`, details: { n: 1 } } })
    }
  })

  it('answers a schema failure with 400 INVALID_MESSAGE and the failing fields', async () => {
    const res = await rawRequest(url, 'POST', '/typed', {
      body: '{"left":"one"}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res.status).to.equal(400)
    expect(res.json.error.code).to.equal('INVALID_MESSAGE')
    expect(res.json.error.details).to.deep.equal({ fields: ['left'] })
  })

  it('answers a plain thrown error with 500 ACTION_FAILED and no internals', async () => {
    const res = await rawRequest(url, 'GET', '/crash')
    expect(res.status).to.equal(500)
    expect(res.json.error.code).to.equal('ACTION_FAILED')
    expect(res.text).not.to.include('secret')
    expect(res.text).not.to.include('stack')
  })

  it('answers 504 TIMEOUT when the action outlives the route time limit', async () => {
    const res = await rawRequest(url, 'GET', '/slow')
    expect(res.status).to.equal(504)
    expect(res.json.error.code).to.equal('TIMEOUT')
  })

  it('answers an action that returns nothing with 204, or the empty status the route asks for', async () => {
    const del = await rawRequest(url, 'DELETE', '/nothing')
    expect(del.status).to.equal(204)
    expect(del.text).to.equal('')
    expect((await rawRequest(url, 'PUT', '/nothing')).status).to.equal(202)
  })

  it('matches paths as express does, answers HEAD from GET, and decodes path parameters', async () => {
    expect((await rawRequest(url, 'GET', '/SUM/?left=1&right=2')).json).to.deep.equal({ answer: 3 })
    const head = await rawRequest(url, 'HEAD', '/sum?left=1&right=2')
    expect(head.status).to.equal(200)
    expect(head.text).to.equal('')
    const res = await rawRequest(url, 'POST', '/votes/a%2Fb', {
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
    expect(res.json.id).to.equal('a/b')
    const bad = await rawRequest(url, 'POST', '/votes/%E0%A4%A', {
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
    expect(bad.status).to.equal(400)
  })

  it('answers an unknown path with a JSON 404 NOT_FOUND', async () => {
    const res = await rawRequest(url, 'GET', '/nowhere')
    expect(res.status).to.equal(404)
    expect(res.json.error.code).to.equal('NOT_FOUND')
  })

  describe('bad input', () => {
    it('answers malformed JSON with 400 INVALID_JSON', async () => {
      const res = await rawRequest(url, 'POST', '/echo', {
        body: '{"a":',
        headers: { 'content-type': 'application/json' },
      })
      expect(res.status).to.equal(400)
      expect(res.json.error.code).to.equal('INVALID_JSON')
    })

    it('answers a JSON body that is not an object with 400 INVALID_MESSAGE', async () => {
      const res = await rawRequest(url, 'POST', '/echo', {
        body: '[1,2]',
        headers: { 'content-type': 'application/json' },
      })
      expect(res.status).to.equal(400)
      expect(res.json.error.code).to.equal('INVALID_MESSAGE')
    })

    it('answers a body over the limit with 413, by declared length and while a chunked body arrives', async () => {
      const big = JSON.stringify({ pad: 'x'.repeat(2000) })
      const declared = await rawRequest(url, 'POST', '/echo', {
        body: big,
        headers: { 'content-type': 'application/json' },
      })
      expect(declared.status).to.equal(413)
      expect(declared.json.error.code).to.equal('PAYLOAD_TOO_LARGE')
      const chunked = await rawRequest(url, 'POST', '/echo', {
        body: big,
        chunked: true,
        headers: { 'content-type': 'application/json' },
      })
      expect(chunked.status).to.equal(413)
      expect(chunked.json.error.code).to.equal('PAYLOAD_TOO_LARGE')
    })

    it('answers a body that is not JSON with 415', async () => {
      const res = await rawRequest(url, 'POST', '/echo', {
        body: 'a=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      expect(res.status).to.equal(415)
      expect(res.json.error.code).to.equal('UNSUPPORTED_MEDIA_TYPE')
      const none = await rawRequest(url, 'POST', '/echo', { body: '{"a":1}' })
      expect(none.status).to.equal(415)
    })

    it('keeps prototype-polluting keys harmless', async () => {
      const res = await rawRequest(url, 'POST', '/echo?__proto__[polluted]=1&constructor[prototype][polluted]=1', {
        body: '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ok":1}',
        headers: { 'content-type': 'application/json' },
      })
      expect(res.status).to.equal(200)
      expect(res.json.protoIsObject).to.equal(true)
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
      expect((Object.prototype as Record<string, unknown>).polluted).to.equal(undefined)
    })

    it('keeps serving after all of the above', async () => {
      expect((await rawRequest(url, 'GET', '/sum?left=20&right=22')).json).to.deep.equal({ answer: 42 })
    })
  })

  it('lists the route table of every web plugin instance through role:web,cmd:routes', async () => {
    const out = (await stoa.act('role:web,cmd:routes')) as {
      routes: { method: string; path: string; pattern: string; status: number; plugin: string }[]
    }
    const rows = out.routes.map((r) => `${r.plugin} ${r.method} ${r.path} ${r.pattern} ${r.status}`)
    expect(rows).to.include('web GET /sum cmd:sum,role:math 200')
    expect(rows).to.include('web POST /votes/:id cmd:cast,role:vote 202')
    expect(rows).to.include('web$legacy POST /seneca/sum cmd:sum,role:math 200')
    expect(rows).to.include('web$slow GET /slow cmd:slow,role:test 200')
    expect(rows.length).to.equal(11)
  })

  it('mounts onto an express router the user owns, beside its own routes and body parser', async () => {
    const app = express()
    app.use(express.json())
    const router = express.Router()
    router.get('/own', (_req, res) => void res.json({ own: true }))
    const mounted = await mountWeb(stoa, router)
    expect(mounted.length).to.equal(11)
    app.use('/v2', router)
    const own = await serveWeb(createStoa({ logger: quietLogger() }), { app })
    try {
      expect((await rawRequest(own.url, 'GET', '/v2/own')).json).to.deep.equal({ own: true })
      expect((await rawRequest(own.url, 'GET', '/v2/sum?left=1&right=2')).json).to.deep.equal({ answer: 3 })
      const parsed = await rawRequest(own.url, 'POST', '/v2/seneca/sum', {
        body: '{"left":1,"right":1}',
        headers: { 'content-type': 'application/json' },
      })
      expect(parsed.json).to.deep.equal({ answer: 2 })
      // The parser consumed an empty object: it is used, not read again.
      const empty = await rawRequest(own.url, 'POST', '/v2/votes/9', {
        body: '{}',
        headers: { 'content-type': 'application/json' },
      })
      expect(empty.status).to.equal(202)
      // The parser skipped another media type: the body is still checked here.
      const text = await rawRequest(own.url, 'POST', '/v2/votes/9', {
        body: 'hello',
        headers: { 'content-type': 'text/plain' },
      })
      expect(text.status).to.equal(415)
    } finally {
      await own.close()
    }
  })

  it('refuses bad route maps when the plugin is loaded, with INVALID_OPTIONS', () => {
    const s = createStoa({ logger: quietLogger() })
    expect(() => s.use(web, { routes: { 'FETCH /x': 'role:x' } }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_OPTIONS')
    expect(() => s.use(web, { maxBodyBytes: -1 } as never, { tag: 'b' }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_OPTIONS')
    expect(() => s.use(web, { routes: { 'GET /files/*rest': 'role:x' } }, { tag: 'c' })).to.throw(/neither literal/)
  })
})
