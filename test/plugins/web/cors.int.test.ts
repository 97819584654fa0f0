import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import type { WebOptions } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { quietLogger } from '../../helpers/wait.js'

describe('web plugin: CORS in the one pipeline', function () {
  this.timeout(20000)
  const closers: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  async function serve(cors: WebOptions['cors']): Promise<string> {
    const stoa = createStoa({ name: 'api', logger: quietLogger() })
    stoa.add('role:api,cmd:get', () => ({ ok: true }))
    stoa.add('role:api,cmd:put', (msg) => ({ put: msg.v }))
    stoa.use(web, {
      routes: { 'GET /things': 'role:api,cmd:get', 'PUT /things': 'role:api,cmd:put' },
      streams: { '/live': 'thing.*' },
      cors,
    })
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return server.url
  }

  const preflight = (url: string, origin: string, method: string, headers = 'content-type') =>
    fetch(`${url}/things`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
    })

  it('answers a preflight from an allowed origin with the allowed methods, headers and max age', async () => {
    const url = await serve({ origins: ['https://app.example.com'], credentials: true, maxAgeSec: 60 })
    const res = await preflight(url, 'https://app.example.com', 'PUT', 'Content-Type, Authorization')
    expect(res.status).to.equal(204)
    expect(res.headers.get('access-control-allow-origin')).to.equal('https://app.example.com')
    expect(res.headers.get('access-control-allow-credentials')).to.equal('true')
    expect(res.headers.get('access-control-allow-methods')).to.include('PUT')
    expect(res.headers.get('access-control-allow-headers')).to.include('authorization')
    expect(res.headers.get('access-control-max-age')).to.equal('60')
    expect(res.headers.get('vary')).to.equal('Origin')
  })

  it('gives a disallowed origin, method or header no Access-Control-Allow-Origin, on preflights and answers', async () => {
    const url = await serve({ origins: ['https://app.example.com'], methods: ['GET'] })
    for (const res of [
      await preflight(url, 'https://evil.example.com', 'GET'),
      await preflight(url, 'https://app.example.com', 'PUT'),
      await preflight(url, 'https://app.example.com', 'GET', 'x-secret'),
    ]) {
      expect(res.status).to.equal(204)
      expect(res.headers.get('access-control-allow-origin')).to.equal(null)
    }
    const answer = await fetch(`${url}/things`, { headers: { origin: 'https://evil.example.com' } })
    expect(answer.status).to.equal(200)
    expect(answer.headers.get('access-control-allow-origin')).to.equal(null)
  })

  it('adds Access-Control-Allow-Origin to answers (errors too) for an allowed origin, * without credentials', async () => {
    const url = await serve({ origins: ['*'] })
    const ok = await fetch(`${url}/things`, { headers: { origin: 'https://any.example.com' } })
    expect(ok.headers.get('access-control-allow-origin')).to.equal('*')
    expect(ok.headers.get('access-control-expose-headers')).to.include('x-request-id')
    const bad = await fetch(`${url}/things`, {
      method: 'PUT',
      headers: { origin: 'https://any.example.com', 'content-type': 'application/json' },
      body: '{oops',
    })
    expect(bad.status).to.equal(400)
    expect(bad.headers.get('access-control-allow-origin')).to.equal('*')
  })

  it('answers nothing CORS without the option, and an OPTIONS without a preflight as before', async () => {
    const url = await serve(undefined)
    const res = await preflight(url, 'https://app.example.com', 'PUT')
    expect(res.status).to.equal(204)
    expect(res.headers.get('access-control-allow-origin')).to.equal(null)
    expect(res.headers.get('allow')).to.include('PUT')
  })

  /** Opens the stream route as an EventSource would, from `origin`: its answer, the stream left open until the test ends. */
  async function openStream(url: string, origin: string): Promise<Response> {
    const stop = new AbortController()
    closers.push(async () => stop.abort())
    return fetch(`${url}/live`, { headers: { origin, accept: 'text/event-stream' }, signal: stop.signal })
  }

  it('gives a stream route’s server-sent events Access-Control-Allow-Origin for an allowed origin only', async () => {
    const url = await serve({ origins: ['https://app.example.com'], credentials: true })
    const allowed = await openStream(url, 'https://app.example.com')
    expect(allowed.status).to.equal(200)
    expect(allowed.headers.get('content-type')).to.match(/^text\/event-stream/)
    expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://app.example.com')
    expect(allowed.headers.get('access-control-allow-credentials')).to.equal('true')
    expect(allowed.headers.get('vary')).to.equal('Origin')
    // CORS decides what a page may read, not what the server sends: the stream opens, unreadable there.
    const other = await openStream(url, 'https://evil.example.com')
    expect(other.status).to.equal(200)
    expect(other.headers.get('content-type')).to.match(/^text\/event-stream/)
    expect(other.headers.get('access-control-allow-origin')).to.equal(null)
    expect(other.headers.get('access-control-allow-credentials')).to.equal(null)
  })

  it('answers a preflight for a stream route: the allow headers for an allowed origin, none for another', async () => {
    // An EventSource reconnecting sends Last-Event-ID, which is not CORS-safelisted: a preflight asks for it.
    const url = await serve({ origins: ['https://app.example.com'], headers: ['last-event-id'] })
    const ask = (origin: string) =>
      fetch(`${url}/live`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
      })
    const allowed = await ask('https://app.example.com')
    expect(allowed.status).to.equal(204)
    expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://app.example.com')
    expect(allowed.headers.get('access-control-allow-methods')).to.include('GET')
    expect(allowed.headers.get('access-control-allow-headers')).to.equal('last-event-id')
    const other = await ask('https://evil.example.com')
    expect(other.status).to.equal(204)
    expect(other.headers.get('access-control-allow-origin')).to.equal(null)
    expect(other.headers.get('access-control-allow-methods')).to.equal(null)
  })
})
