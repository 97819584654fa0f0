import { expect } from 'chai'
import { createClient as createWsClient } from 'graphql-ws'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import { signToken } from 'stoa/jwt'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import WebSocket from 'ws'
import { authService } from '../../../examples/vote/services/auth.js'
import { gatewayService, voteLimits } from '../../../examples/vote/services/gateway.js'
import type { GatewayServer } from '../../../examples/vote/web/server.js'
import { CONTENT_SECURITY_POLICY, serveGateway } from '../../../examples/vote/web/server.js'

const SECRET = 'vote-web-test-secret-of-forty-characters'

describe("examples/vote gateway over HTTP: 202 for a vote, the error table's 4xx for anything else", () => {
  let gateway: Stoa<any>
  let tally: Stoa<any>
  let auth: Stoa<any>
  let server: GatewayServer
  let token: string

  before(async () => {
    const bus = createMemoryBus()
    tally = createStoa({ name: 'tally' }).add('task:tally.vote.record', () => undefined)
    tally.listen(createMemoryTransport({ bus }))
    auth = authService(SECRET).create()
    auth.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    gateway = gatewayService(SECRET).create()
    gateway.client(createMemoryTransport({ bus }), ['role:auth']).listen(createMemoryTransport({ bus }))
    await Promise.all([tally.ready(), auth.ready(), gateway.ready()])
    server = await serveGateway(gateway)
    token = signToken({ sub: 'ada', roles: ['voter'] }, { secret: SECRET, expiresInSec: 60 })
  })
  after(async () => {
    await server?.close()
    for (const s of [gateway, auth, tally]) await s?.close()
  })

  const vote = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body,
    })
  async function refused(res: Response): Promise<[number, string]> {
    const text = await res.text()
    expect(text).not.to.match(/\n\s+at /)
    return [res.status, (JSON.parse(text) as { error: { code: string } }).error.code]
  }

  it('answers a vote 202 with its id and accepted time', async () => {
    const res = await vote('{"choice":"dogs"}')
    expect(res.status).to.equal(202)
    expect(await res.json()).to.have.keys('voteId', 'acceptedAt')
  })

  it('logs a voter in with a token in the body and in an HttpOnly cookie', async () => {
    const res = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Ada"}',
    })
    expect(res.status).to.equal(200)
    expect(((await res.json()) as { sub: string }).sub).to.equal('ada')
    expect(res.headers.get('set-cookie')).to.match(/^stoa_token=[\w.-]+;.*HttpOnly/i)
  })

  it('refuses bad input with 400, 401, 413 and 415, never a 5xx', async () => {
    expect(await refused(await vote('{"choice":"fish"}'))).to.deep.equal([400, 'INVALID_MESSAGE'])
    expect(await refused(await vote('{"choice":'))).to.deep.equal([400, 'INVALID_JSON'])
    expect(await refused(await vote('{"choice":"cats"}', { authorization: 'Bearer not.a.token' }))).to.deep.equal([
      401,
      'UNAUTHENTICATED',
    ])
    expect(
      await refused(
        await fetch(`${server.url}/api/votes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"choice":"cats"}',
        }),
      ),
    ).to.deep.equal([401, 'UNAUTHENTICATED'])
    expect(await refused(await vote(' '.repeat(1024 * 1024 + 10)))).to.deep.equal([413, 'PAYLOAD_TOO_LARGE'])
    expect(
      await refused(await vote('choice=cats', { 'content-type': 'application/x-www-form-urlencoded' })),
    ).to.deep.equal([415, 'UNSUPPORTED_MEDIA_TYPE'])
  })

  it('limits votes per voter and logins per client address: 429 RATE_LIMITED with the IETF fields', async () => {
    const limit = voteLimits['role:vote,cmd:cast'].points
    const bo = signToken({ sub: 'bo', roles: ['voter'] }, { secret: SECRET, expiresInSec: 60 })
    // A token bucket: the burst passes, then the refill (a token every 0.5 s) lets a few more
    // through on a slow machine, until the voter outruns it.
    let accepted = 0
    let last = await vote('{"choice":"cats"}', { authorization: `Bearer ${bo}` })
    for (; last.status === 202 && accepted < 3 * limit; accepted++)
      last = await vote('{"choice":"cats"}', { authorization: `Bearer ${bo}` })
    expect(accepted).to.be.at.least(limit)
    expect(await refused(last.clone())).to.deep.equal([429, 'RATE_LIMITED'])
    expect(last.headers.get('ratelimit-policy')).to.match(/^"cmd:cast,role:vote";q=20;w=10$/)
    expect(Number(last.headers.get('retry-after'))).to.be.within(1, 10)
    // Another voter still votes.
    expect((await vote('{"choice":"cats"}', { authorization: `Bearer ${token}` })).status).to.equal(202)

    const login = (address: string) =>
      fetch(`${server.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: '{"name":"Cy"}',
      })
    const logins = voteLimits['role:auth,cmd:login'].points
    let admitted = 0
    let answer = await login('203.0.113.7')
    for (; answer.status === 200 && admitted < 3 * logins; admitted++) answer = await login('203.0.113.7')
    expect(admitted).to.be.at.least(logins)
    expect(await refused(answer)).to.deep.equal([429, 'RATE_LIMITED'])
    expect((await login('203.0.113.8')).status).to.equal(200)
  })

  it('casts a vote through POST /api/graphql with the same identity and permission as the route', async () => {
    const cast = (authorization?: string) =>
      fetch(`${server.url}/api/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify({ query: 'mutation { castVote(choice: "dogs") { voteId acceptedAt } }' }),
      }).then((r) => r.json() as Promise<{ data?: { castVote: unknown }; errors?: { extensions: { code: string } }[] }>)
    const ok = await cast(`Bearer ${signToken({ sub: 'gql', roles: ['voter'] }, { secret: SECRET, expiresInSec: 60 })}`)
    expect(ok.errors).to.equal(undefined)
    expect(ok.data!.castVote).to.have.keys('voteId', 'acceptedAt')
    expect((await cast()).errors![0]!.extensions.code).to.equal('UNAUTHENTICATED')
    const admin = signToken({ sub: 'root', roles: ['admin'] }, { secret: SECRET, expiresInSec: 60 })
    expect((await cast(`Bearer ${admin}`)).errors![0]!.extensions.code).to.equal('FORBIDDEN')
  })

  it('pushes voteRecorded to a GraphQL subscription over WebSocket', async () => {
    const client = createWsClient({
      url: `${server.url.replace('http', 'ws')}/api/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    })
    try {
      const events: unknown[] = []
      const done = new Promise<void>((resolve, reject) => {
        client.subscribe(
          { query: 'subscription { voteRecorded }' },
          { next: (r) => void (events.push(r.data) === 1 && resolve()), error: reject, complete: () => undefined },
        )
      })
      // Live a moment after it is sent: emit until one arrives (at most 5 s).
      let arrived = false
      void done.then(() => {
        arrived = true
      })
      for (let i = 0; i < 100 && !arrived; i++) {
        await auth.emit('vote.recorded', { voteId: 'v-1', choice: 'cats' })
        await new Promise((r) => setTimeout(r, 50))
      }
      await done
      expect(events[0]).to.deep.equal({ voteRecorded: { voteId: 'v-1', choice: 'cats' } })
    } finally {
      await client.dispose()
    }
  })

  it('serves the pages with a strict Content-Security-Policy', async () => {
    for (const path of ['/', '/results', '/assets/vote.js']) {
      const res = await fetch(`${server.url}${path}`)
      expect(res.status).to.equal(200)
      expect(res.headers.get('content-security-policy')).to.equal(CONTENT_SECURITY_POLICY)
    }
    expect(CONTENT_SECURITY_POLICY)
      .to.include("default-src 'none'")
      .and.include("script-src 'self'")
      .and.not.include('unsafe')
    expect((await fetch(`${server.url}/assets/..%2Fserver.ts`)).status).to.equal(404)
  })
})
