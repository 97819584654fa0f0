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
    stoa.use(web, { routes: { 'GET /things': 'role:api,cmd:get', 'PUT /things': 'role:api,cmd:put' }, cors })
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
})
