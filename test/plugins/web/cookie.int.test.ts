import { expect } from 'chai'
import { CookieJar } from 'tough-cookie'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { auth } from '../../../examples/auth/auth.js'
import { hashPassword } from '../../../examples/auth/passwords.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import type { RawAnswer } from '../../helpers/http.js'
import { rawRequest } from '../../helpers/http.js'
import { SECRET } from '../../helpers/jwt.js'
import { quietLogger } from '../../helpers/wait.js'

const APP1 = 'https://app1.example.test'
const APP2 = 'https://app2.example.test'

describe('the login cookie across subdomains, against two gateway instances', function () {
  this.timeout(20_000)
  const submitted: { sub: string; gateway: string }[] = []
  const instances: Stoa[] = []
  const servers: WebServer[] = []
  let gw1: WebServer
  let gw2: WebServer

  /** One gateway instance: the auth example, a protected route, and the cookie accepted. */
  async function gateway(label: string, users: Record<string, { hash: string; roles: string[] }>): Promise<WebServer> {
    const stoa = createStoa({ name: 'gateway', logger: quietLogger() })
      .use(jwt, { secret: SECRET, audience: 'gateway', issuer: 'stoa-auth' })
      .use(authz, { roles: { 'user-client': ['order:submit', 'auth:whoami'], 'user-mover': ['auth:whoami'] } })
      .use(auth, { secret: SECRET, cookieDomain: 'example.test', users })
      .add(
        'role:order,cmd:submit',
        (_m, ctx) => {
          submitted.push({ sub: ctx.identity!.sub, gateway: label })
          return { accepted: true }
        },
        { permission: 'order:submit' },
      )
      .use(web, {
        routes: {
          'POST /login': 'role:auth,cmd:login',
          'POST /logout': 'role:auth,cmd:logout',
          'GET /me': 'role:auth,cmd:whoami',
          'POST /orders': 'role:order,cmd:submit',
        },
        cookie: { allowedOrigins: [APP1, APP2] },
      })
    instances.push(stoa)
    await stoa.ready()
    const server = await serveWeb(stoa)
    servers.push(server)
    return server
  }

  before(async () => {
    const users = { ada: { hash: await hashPassword('correct horse'), roles: ['user-client'] } }
    gw1 = await gateway('one', users)
    gw2 = await gateway('two', users)
  })

  after(async () => {
    for (const s of servers) await s.close()
    for (const s of instances) await s.close()
  })

  beforeEach(() => {
    submitted.length = 0
  })

  /** A request as the browser at `site` makes it: the jar's cookies for that host, its Host header. */
  async function browser(
    jar: CookieJar,
    server: WebServer,
    site: string,
    method: string,
    path: string,
    opts: { body?: unknown; origin?: string | null; headers?: Record<string, string> } = {},
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = { host: new URL(site).host, ...opts.headers }
    const cookie = await jar.getCookieString(`${site}${path}`)
    if (cookie !== '') headers.cookie = cookie
    if (opts.origin !== null && method !== 'GET') headers.origin = opts.origin ?? site
    let body: string | undefined
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] = 'application/json'
    }
    const answer = await rawRequest(server.url, method, path, body === undefined ? { headers } : { headers, body })
    const set = answer.headers['set-cookie']
    for (const c of set === undefined ? [] : Array.isArray(set) ? set : [set]) await jar.setCookie(c, `${site}${path}`)
    return answer
  }

  async function loggedIn(): Promise<CookieJar> {
    const jar = new CookieJar()
    const res = await browser(jar, gw1, APP1, 'POST', '/login', {
      body: { username: 'ada', password: 'correct horse' },
    })
    expect(res.status).to.equal(200)
    return jar
  }

  it('logs in at app1 and stays logged in at app2, served by another gateway instance', async () => {
    const jar = new CookieJar()
    const login = await browser(jar, gw1, APP1, 'POST', '/login', {
      body: { username: 'ada', password: 'correct horse' },
    })
    expect(login.status).to.equal(200)
    const setCookie = String(login.headers['set-cookie'])
    expect(setCookie).to.match(
      /^stoa_token=[\w.-]+; Domain=example\.test; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/,
    )
    // The browser sends it to the other subdomain; a different gateway instance accepts it.
    const me = await browser(jar, gw2, APP2, 'GET', '/me')
    expect(me.status).to.equal(200)
    expect(me.json).to.deep.equal({ sub: 'ada', roles: ['user-client'] })
    const order = await browser(jar, gw2, APP2, 'POST', '/orders', { body: { item: 'sofa' } })
    expect(order.status).to.equal(200)
    expect(submitted).to.deep.equal([{ sub: 'ada', gateway: 'two' }])
    // And not to a site outside the parent domain.
    expect(await jar.getCookieString('https://example.org/me')).to.equal('')
  })

  it('a wrong password: 401, no cookie', async () => {
    const jar = new CookieJar()
    const res = await browser(jar, gw1, APP1, 'POST', '/login', { body: { username: 'ada', password: 'wrong' } })
    expect(res.status).to.equal(401)
    expect(res.headers['set-cookie']).to.equal(undefined)
    expect(res.json.error.code).to.equal('UNAUTHENTICATED')
  })

  it('cross-site cookie POST: refused 403, nothing runs, the service keeps serving', async () => {
    const jar = await loggedIn()
    const evil = await browser(jar, gw2, APP2, 'POST', '/orders', {
      body: { item: 'sofa' },
      origin: 'https://evil.test',
    })
    expect(evil.status).to.equal(403)
    expect(evil.json.error).to.deep.include({ code: 'FORBIDDEN' })
    expect(evil.json.error.details.reason).to.equal('cross-site')
    const noOrigin = await browser(jar, gw2, APP2, 'POST', '/orders', {
      body: { item: 'sofa' },
      origin: null,
      headers: { 'sec-fetch-site': 'cross-site' },
    })
    expect(noOrigin.status).to.equal(403)
    const neither = await browser(jar, gw2, APP2, 'POST', '/orders', { body: { item: 'sofa' }, origin: null })
    expect(neither.status).to.equal(403)
    const nullOrigin = await browser(jar, gw2, APP2, 'POST', '/orders', { body: { item: 'sofa' }, origin: 'null' })
    expect(nullOrigin.status).to.equal(403)
    expect(submitted).to.deep.equal([])
    expect((await browser(jar, gw2, APP2, 'POST', '/orders', { body: { item: 'sofa' } })).status).to.equal(200)
  })

  it('a cross-site GET with the cookie changes nothing and may read: allowed', async () => {
    const jar = await loggedIn()
    expect(
      (await browser(jar, gw2, APP2, 'GET', '/me', { headers: { 'sec-fetch-site': 'cross-site' } })).status,
    ).to.equal(200)
  })

  it('the Authorization header needs no origin check, and wins over the cookie', async () => {
    const jar = await loggedIn()
    const other = signToken(
      { sub: 'bob', roles: ['user-client'] },
      { secret: SECRET, expiresInSec: 60, issuer: 'stoa-auth', audience: 'gateway' },
    )
    const res = await browser(jar, gw2, APP2, 'POST', '/orders', {
      body: {},
      origin: 'https://evil.test',
      headers: { authorization: `Bearer ${other}` },
    })
    expect(res.status).to.equal(200)
    expect(submitted).to.deep.equal([{ sub: 'bob', gateway: 'two' }])
  })

  it('logout clears the cookie on every subdomain', async () => {
    const jar = await loggedIn()
    const out = await browser(jar, gw2, APP2, 'POST', '/logout')
    expect(out.status).to.equal(204)
    expect(String(out.headers['set-cookie'])).to.match(
      /^stoa_token=; Domain=example\.test; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax; Secure$/,
    )
    expect(await jar.getCookieString(`${APP1}/me`)).to.equal('')
    const me = await browser(jar, gw1, APP1, 'GET', '/me')
    expect(me.status).to.equal(401)
    expect(me.headers['www-authenticate']).to.equal('Bearer')
  })

  it('a token in the query string: ignored, 401, nothing runs', async () => {
    const token = signToken(
      { sub: 'ada', roles: ['user-client'] },
      { secret: SECRET, expiresInSec: 60, issuer: 'stoa-auth', audience: 'gateway' },
    )
    const jar = new CookieJar()
    const me = await browser(
      jar,
      gw1,
      APP1,
      'GET',
      `/me?token=${token}&access_token=${token}&authorization=Bearer%20${token}`,
    )
    expect(me.status).to.equal(401)
    expect(me.headers['www-authenticate']).to.equal('Bearer')
    const order = await browser(jar, gw1, APP1, 'POST', `/orders?access_token=${token}`, {
      body: { token, access_token: token },
    })
    expect(order.status).to.equal(401)
    expect(submitted).to.deep.equal([])
  })

  it('roles smuggled in the body over HTTP: ignored, the identity is the token', async () => {
    const mover = signToken(
      { sub: 'max', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: 'stoa-auth', audience: 'gateway' },
    )
    const jar = new CookieJar()
    const res = await browser(jar, gw1, APP1, 'POST', '/orders', {
      body: { roles: ['user-client'], identity: { sub: 'ada', roles: ['user-client'] } },
      headers: { authorization: `Bearer ${mover}` },
    })
    expect(res.status).to.equal(403)
    expect(submitted).to.deep.equal([])
  })

  it('an invalid token: 401 with WWW-Authenticate naming invalid_token, and the gateway keeps serving', async () => {
    const jar = new CookieJar()
    const res = await browser(jar, gw1, APP1, 'GET', '/me', { headers: { authorization: 'Bearer not.a.token' } })
    expect(res.status).to.equal(401)
    expect(res.headers['www-authenticate']).to.equal('Bearer error="invalid_token"')
    expect(res.json.error.details.reason).to.equal('malformed')
    const jar2 = await loggedIn()
    expect((await browser(jar2, gw1, APP1, 'GET', '/me')).status).to.equal(200)
  })
})
