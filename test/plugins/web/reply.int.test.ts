import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import type { HttpReply, WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

describe('web plugin: what an action asks of the answer', function () {
  this.timeout(10000)
  let stoa: Stoa<any>
  let server: WebServer
  let url: string
  const logger = quietLogger()

  before(async () => {
    stoa = createStoa({ name: 'gateway', logger })
    stoa.add('role:vote,cmd:create', (m) => ({
      id: m.id,
      http$: { status: 201, headers: { location: `/votes/${String(m.id)}` } } satisfies HttpReply,
    }))
    stoa.add('role:vote,cmd:moved', () => ({ http$: { status: 303, headers: { location: '/elsewhere' } } }))
    stoa.add('role:vote,cmd:cookie', () => ({
      http$: { headers: { 'set-cookie': ['a=1', 'b=2'], 'cache-control': 'no-store' } },
    }))
    stoa.add('role:vote,cmd:bad', (m) => ({ ok: true, http$: JSON.parse(String(m.reply)) }))
    stoa.add('role:vote,cmd:bigint', () => ({ n: 1n }))
    stoa.use(web, {
      routes: {
        'POST /votes/:id': { pattern: 'role:vote,cmd:create', status: 202 },
        'GET /moved': 'role:vote,cmd:moved',
        'GET /cookie': 'role:vote,cmd:cookie',
        'GET /bad': 'role:vote,cmd:bad',
        'GET /bigint': 'role:vote,cmd:bigint',
      },
    })
    server = await serveWeb(stoa)
    url = server.url
  })

  after(async () => {
    await server?.close()
    await stoa?.close()
  })

  it("answers with the action's http$ status and headers over the route's, and leaves http$ out of the body", async () => {
    const res = await rawRequest(url, 'POST', '/votes/7', {
      body: '{}',
      headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' },
    })
    expect(res.status).to.equal(201)
    expect(res.headers.location).to.equal('/votes/7')
    expect(res.headers['x-request-id']).to.equal('r-1')
    expect(res.json).to.deep.equal({ id: '7' })
  })

  it('answers a result that is only http$ with no body: a redirect, or 204 with the headers asked for', async () => {
    const moved = await rawRequest(url, 'GET', '/moved')
    expect(moved.status).to.equal(303)
    expect(moved.headers.location).to.equal('/elsewhere')
    expect(moved.text).to.equal('')
    const cookie = await rawRequest(url, 'GET', '/cookie')
    expect(cookie.status).to.equal(204)
    expect(cookie.headers['set-cookie']).to.deep.equal(['a=1', 'b=2'])
    expect(cookie.headers['cache-control']).to.equal('no-store')
  })

  const badReplies: [string, unknown, RegExp][] = [
    ['an error status', { status: 500 }, /status must be an integer from 200 to 399/],
    ['a status that is not a number', { status: '201' }, /status must be/],
    ['a header stoa sets', { headers: { 'Content-Length': '1' } }, /"content-length" is set by stoa/],
    [
      'a header value with a line break',
      { headers: { location: '/a\r\nset-cookie: x=1' } },
      /without control characters/,
    ],
    ['a header name that is not a token', { headers: { 'bad name': 'x' } }, /not a valid header name/],
    ['an unknown key', { redirect: '/x' }, /unknown keys: redirect/],
    ['not an object', 'created', /must be an object/],
  ]
  for (const [what, reply, message] of badReplies) {
    it(`answers an http$ with ${what} as the action's failure: 500 ACTION_FAILED`, async () => {
      const res = await rawRequest(url, 'GET', `/bad?reply=${encodeURIComponent(JSON.stringify(reply))}`)
      expect(res.status).to.equal(500)
      expect(res.json.error.code).to.equal('ACTION_FAILED')
      expect(res.json.error.message).to.match(message)
      expect(res.headers['set-cookie']).to.equal(undefined)
    })
  }

  it('answers a result JSON cannot hold with 500 ACTION_FAILED and keeps serving', async () => {
    const res = await rawRequest(url, 'GET', '/bigint')
    expect(res.status).to.equal(500)
    expect(res.json.error.code).to.equal('ACTION_FAILED')
    expect(res.text).to.not.match(/BigInt/)
    const logged = logger.entries.find((e) => e.level === 'error' && e.fields.route === 'GET /bigint')
    expect(logged?.fields.err).to.match(/BigInt/)
    expect((await rawRequest(url, 'GET', '/moved')).status).to.equal(303)
  })

  it('honours http$ from an action another service runs, reached over the HTTP transport', async () => {
    const votes = createStoa({ name: 'votes', logger: quietLogger() })
    votes.add('role:remote,cmd:create', (m) => ({
      id: m.id,
      http$: { status: 201, headers: { location: `/r/${String(m.id)}` } },
    }))
    const listener = createHttpTransport()
    votes.listen(listener)
    await votes.ready()
    const gateway = createStoa({ name: 'edge', logger: quietLogger() })
    gateway.client(createHttpTransport({ url: listener.address()! }), ['role:remote'])
    gateway.use(web, { routes: { 'POST /r/:id': 'role:remote,cmd:create' } })
    const edge = await serveWeb(gateway)
    try {
      const res = await rawRequest(edge.url, 'POST', '/r/9', {
        body: '{}',
        headers: { 'content-type': 'application/json' },
      })
      expect(res.status).to.equal(201)
      expect(res.headers.location).to.equal('/r/9')
      expect(res.json).to.deep.equal({ id: '9' })
    } finally {
      await edge.close()
      await gateway.close()
      await votes.close()
    }
  })
})
