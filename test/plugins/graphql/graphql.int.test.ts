import { connect } from 'node:net'
import { expect } from 'chai'
import type { ExecutionResult } from 'graphql'
import { createClient } from 'graphql-http'
import { createClient as createSseClient } from 'graphql-sse'
import { createClient as createWsClient } from 'graphql-ws'
import WebSocket from 'ws'
import { z } from 'zod'
import type { Stoa } from '../../../actions/index.js'
import { action, createStoa } from '../../../actions/index.js'
import authz from '../../../plugins/authz/index.js'
import type { GraphqlOptions } from '../../../plugins/graphql/index.js'
import graphql from '../../../plugins/graphql/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { SECRET } from '../../helpers/jwt.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

type Answer = ExecutionResult<Record<string, any>, { code: string; details?: Record<string, unknown> }>

const voter = (sub: string, roles = ['voter']) => signToken({ sub, roles }, { secret: SECRET, expiresInSec: 60 })

describe('graphql plugin over HTTP', function () {
  this.timeout(20000)
  const closers: (() => Promise<unknown> | unknown)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  async function service(options: GraphqlOptions = {}): Promise<{ stoa: Stoa<any>; url: string }> {
    const votes: { voter: string; choice: string }[] = []
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(jwt, { secret: SECRET })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 3, durationSec: 60 } } })
      .use(authz, { roles: { voter: ['vote:cast'] } })
      .add(
        'role:vote,cmd:cast',
        action({
          permission: 'vote:cast',
          description: 'casts a vote',
          schema: z.object({ choice: z.enum(['cats', 'dogs']), note: z.string().optional() }),
          result: z.object({
            voteId: z.string(),
            acceptedAt: z.number().int().positive(),
            echo: z.object({ choice: z.string() }),
          }),
          handler: (msg, ctx) => {
            votes.push({ voter: ctx.identity!.sub, choice: msg.choice })
            return { voteId: `v${votes.length}`, acceptedAt: Date.now(), echo: { choice: msg.choice } }
          },
        }),
      )
      .add('role:results,cmd:get', {
        public: true,
        handler: () => ({ cats: votes.filter((v) => v.choice === 'cats').length, votes: votes.length }),
      })
      .add('role:results,cmd:boom', {
        public: true,
        handler: () => {
          throw new Error('secret internals')
        },
      })
      .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' } })
      .use(graphql, {
        queries: { results: 'role:results,cmd:get', boom: 'role:results,cmd:boom' },
        mutations: { castVote: 'role:vote,cmd:cast' },
        ...options,
      })
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return { stoa, url: `${server.url}/graphql` }
  }

  /** A real GraphQL-over-HTTP client (graphql-http's), one request. */
  function request(url: string, query: string, token?: string, variables?: Record<string, unknown>): Promise<Answer> {
    const client = createClient({ url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    return new Promise((resolve, reject) => {
      let result: Answer | undefined
      client.subscribe(
        { query, ...(variables === undefined ? {} : { variables }) },
        { next: (r) => void (result = r as Answer), error: reject, complete: () => resolve(result!) },
      )
    })
  }

  it('types fields from the action schemas and runs them with the caller’s identity', async () => {
    const { url } = await service()
    const cast = await request(
      url,
      'mutation Cast($c: String!) { castVote(choice: $c) { voteId acceptedAt echo { choice } } }',
      voter('ada'),
      { c: 'cats' },
    )
    expect(cast.errors).to.equal(undefined)
    expect(cast.data!.castVote).to.deep.include({ voteId: 'v1', echo: { choice: 'cats' } })
    expect(cast.data!.castVote.acceptedAt).to.be.a('number')
    // A field the result type lacks is refused by validation: the type came from the schema.
    const unknown = await request(url, 'mutation { castVote(choice: "dogs") { nope } }', voter('ada'))
    expect(unknown.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    expect(unknown.errors![0]!.message).to.contain('nope')
    // No result schema: the field is JSON.
    const results = await request(url, '{ results }')
    expect(results.data).to.deep.equal({ results: { cats: 1, votes: 1 } })
  })

  it('carries the stable code in extensions.code: the action’s refusals, and no internals', async () => {
    const { url } = await service()
    const none = await request(url, 'mutation { castVote(choice: "cats") { voteId } }')
    expect(none.errors!.map((e) => e.extensions!.code)).to.deep.equal(['UNAUTHENTICATED'])
    expect(none.errors![0]!.path).to.deep.equal(['castVote'])
    const admin = await request(url, 'mutation { castVote(choice: "cats") { voteId } }', voter('bo', ['admin']))
    expect(admin.errors![0]!.extensions!.code).to.equal('FORBIDDEN')
    const fish = await request(url, 'mutation { castVote(choice: "fish") { voteId } }', voter('ada'))
    expect(fish.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    const boom = await request(url, '{ boom }')
    expect(boom.errors![0]!.extensions!.code).to.equal('ACTION_FAILED')
    expect(JSON.stringify(boom)).not.to.contain('secret internals')
    // The rate limit of the action holds here as on its route.
    const codes = []
    for (let i = 0; i < 4; i++) {
      const r = await request(url, 'mutation { castVote(choice: "dogs") { voteId } }', voter('cy'))
      codes.push(r.errors?.[0]?.extensions?.code ?? 'ok')
    }
    expect(codes).to.deep.equal(['ok', 'ok', 'ok', 'RATE_LIMITED'])
  })

  it('refuses deep queries, costly queries and huge documents with clear errors, before running anything', async () => {
    const { url } = await service({ maxDepth: 3, maxCost: 20, maxTokens: 200 })
    const deep = await request(url, 'mutation { castVote(choice: "cats") { echo { choice } } }', voter('ada'))
    expect(deep.errors).to.equal(undefined)
    // Depth through a fragment counts where it is spread.
    const deeper = await request(
      url,
      '{ __schema { types { fields { type { name } } } } } fragment F on __Type { name }',
    )
    expect(deeper.errors![0]!.extensions).to.deep.equal({
      code: 'INVALID_MESSAGE',
      details: { reason: 'depth', limit: 3 },
    })
    const wide = await request(url, `{ ${Array.from({ length: 25 }, (_, i) => `r${i}: results`).join(' ')} }`)
    expect(wide.errors![0]!.extensions).to.deep.equal({
      code: 'INVALID_MESSAGE',
      details: { reason: 'cost', limit: 20 },
    })
    // Fragments spreading fragments: refused at the limit, not expanded.
    const bomb = [
      '{ ...F0 }',
      'fragment F0 on Query { ...F1 ...F1 ...F1 }',
      'fragment F1 on Query { ...F2 ...F2 ...F2 }',
      'fragment F2 on Query { results results results }',
    ].join(' ')
    expect((await request(url, bomb)).errors![0]!.extensions!.details).to.deep.include({ reason: 'cost' })
    const huge = await request(url, `{ results ${'results '.repeat(300)} }`)
    expect(huge.errors![0]!.extensions).to.deep.equal({
      code: 'INVALID_MESSAGE',
      details: { reason: 'tokens', limit: 200 },
    })
    const self = await request(url, '{ ...S } fragment S on Query { results ...S }')
    expect(self.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    const broken = await request(url, '{ results ')
    expect(broken.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    expect(broken.errors![0]!.message).to.match(/Syntax Error/)
  })

  it('answers introspection, or refuses it when switched off', async () => {
    const open = await service()
    const on = await request(open.url, '{ __schema { mutationType { fields { name args { name } } } } }')
    expect(on.data!.__schema.mutationType.fields).to.deep.equal([
      { name: 'castVote', args: [{ name: 'choice' }, { name: 'note' }] },
    ])
    const closed = await service({ introspection: false })
    const off = await request(closed.url, '{ __schema { types { name } } }')
    expect(off.data).to.equal(undefined)
    expect(off.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    expect(off.errors![0]!.message).to.contain('introspection')
    const typed = await request(closed.url, '{ __type(name: "Query") { name } }')
    expect(typed.errors![0]!.extensions!.code).to.equal('INVALID_MESSAGE')
    // The fields still answer.
    expect((await request(closed.url, '{ results }')).data).to.deep.equal({ results: { cats: 0, votes: 0 } })
  })

  it('answers the pages of allowedOrigins across origins (CORS), and no other origin', async () => {
    const { url } = await service({ allowedOrigins: ['https://app.example'] })
    const post = (origin: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ query: '{ results }' }),
      })
    const allowed = await post('https://app.example')
    expect(allowed.status).to.equal(200)
    expect(allowed.headers.get('access-control-allow-origin')).to.equal('https://app.example')
    const other = await post('https://evil.example')
    expect(other.headers.get('access-control-allow-origin')).to.equal(null)
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    })
    expect(preflight.status).to.equal(204)
    expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://app.example')
    expect(preflight.headers.get('access-control-allow-methods')).to.match(/POST/)
    // Without allowedOrigins the endpoint is same-origin only.
    const { url: closed } = await service()
    const res = await fetch(closed, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://app.example' },
      body: JSON.stringify({ query: '{ results }' }),
    })
    expect(res.headers.get('access-control-allow-origin')).to.equal(null)
  })

  it('refuses what is no GraphQL request with the web route’s answers: 400, 413', async () => {
    const { url } = await service({ maxBodyBytes: 2048 })
    const post = (body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const code = async (res: Response) => [res.status, ((await res.json()) as { error: { code: string } }).error.code]
    expect(await code(await post('{"query": 3}'))).to.deep.equal([400, 'INVALID_MESSAGE'])
    expect(await code(await post('{"query": "{ results }", "variables": [1]}'))).to.deep.equal([400, 'INVALID_MESSAGE'])
    expect(await code(await post('{"query": '))).to.deep.equal([400, 'INVALID_JSON'])
    expect(await code(await post(JSON.stringify({ query: `{ results ${' '.repeat(4096)} }` })))).to.deep.equal([
      413,
      'PAYLOAD_TOO_LARGE',
    ])
  })

  it('types a field whose action nothing answers as JSON, and answers it NOT_FOUND', async () => {
    const { url } = await service({ queries: { gone: 'role:none,cmd:get' } })
    const gone = await request(url, '{ gone(input: { a: 1 }) }')
    expect(gone.errors![0]!.extensions!.code).to.equal('NOT_FOUND')
  })
})

/** Opens a GraphQL subscription over server-sent events with a plain request: its answer, the stream unread. */
function streamOpen(url: string, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: 'subscription { voteRecorded }' }),
    ...(signal === undefined ? {} : { signal }),
  })
}

/** Does `poke` every 50 ms until `done` (at most 5 s): for a subscription live a moment after it is sent. */
async function until(done: () => boolean, poke: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) {
    await poke()
    await new Promise((r) => setTimeout(r, 50))
  }
  expect(done(), 'the subscription got events').to.equal(true)
}

describe('graphql plugin over WebSocket (graphql-ws)', function () {
  this.timeout(20000)
  const closers: (() => Promise<unknown> | unknown)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  /** How many times the tally map action ran. */
  let tallies = 0

  async function gateway(options: GraphqlOptions = {}, bus = createMemoryBus()) {
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: { voter: ['vote:cast', 'results:watch'] } })
      .add('role:vote,cmd:cast', {
        permission: 'vote:cast',
        schema: z.object({ choice: z.string() }),
        handler: async (msg, ctx) => {
          await ctx.emit('vote.recorded', { voter: ctx.identity!.sub, choice: msg.choice })
          return { ok: true }
        },
      })
      .add('role:results,cmd:watch', { permission: 'results:watch', handler: () => ({}) })
      .add(
        'role:results,cmd:tally',
        action({
          public: true,
          result: z.object({ votes: z.number().int().min(0), heard: z.string() }),
          handler: (msg) => {
            const { event, data } = msg as { event: string; data: { skip?: boolean } }
            tallies++
            // null skips the event for this subscriber (the result schema types what is sent).
            return (data.skip === true ? null : { votes: tallies, heard: event }) as { votes: number; heard: string }
          },
        }),
      )
      .add('role:results,cmd:secret', { permission: 'results:watch', handler: () => ({ secret: true }) })
      .use(web, { routes: {} })
      .use(graphql, {
        mutations: { castVote: 'role:vote,cmd:cast' },
        subscriptions: {
          voteRecorded: 'vote.recorded',
          mine: { event: 'vote.recorded', open: 'role:results,cmd:watch' },
        },
        ...options,
      })
    stoa.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return { stoa, url: `${server.url.replace('http', 'ws')}/graphql` }
  }

  function client(url: string, token?: string, headers: Record<string, string> = {}) {
    class Socket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers })
      }
    }
    const c = createWsClient({
      url,
      webSocketImpl: Socket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: token === undefined ? {} : { authorization: `Bearer ${token}` },
      onNonLazyError: () => undefined,
    })
    closers.push(() => c.dispose())
    return c
  }

  /** Collects what one operation yields until it completes or fails. */
  function run(c: ReturnType<typeof createWsClient>, query: string) {
    const got: Answer[] = []
    let failure: unknown
    let ended = false
    const stop = c.subscribe(
      { query },
      {
        next: (r) => void got.push(r as Answer),
        error: (e) => {
          failure = e
          ended = true
        },
        complete: () => {
          ended = true
        },
      },
    )
    return { got, failed: () => failure, ended: () => ended, stop }
  }

  it('pushes each event to subscribers on every gateway, wherever the vote was cast, and runs mutations', async () => {
    const bus = createMemoryBus()
    const a = await gateway({}, bus)
    const b = await gateway({}, bus)
    const onA = run(client(a.url, voter('ada')), 'subscription { voteRecorded }')
    const onB = run(client(b.url), 'subscription { voteRecorded }')
    // Live once an event emitted now reaches both (the subscribe frame is handled a moment later).
    await until(
      () => onA.got.length > 0 && onB.got.length > 0,
      () => a.stoa.emit('vote.recorded', { warmup: true }),
    )
    const castOnA = run(client(a.url, voter('ada')), 'mutation { castVote(choice: "cats") }')
    await waitFor(() => castOnA.ended(), 'the mutation')
    expect(castOnA.got[0]!.data).to.deep.equal({ castVote: { ok: true } })
    const cast = (r: Answer) =>
      JSON.stringify(r.data) === JSON.stringify({ voteRecorded: { voter: 'ada', choice: 'cats' } })
    await waitFor(() => onA.got.some(cast) && onB.got.some(cast), 'the vote on both gateways')
    // The same refusals as over HTTP, with their codes.
    const anonymous = run(client(b.url), 'mutation { castVote(choice: "dogs") }')
    await waitFor(() => anonymous.ended(), 'the refusal')
    expect(anonymous.got[0]!.errors![0]!.extensions!.code).to.equal('UNAUTHENTICATED')
  })

  it('guards a subscription with its open action, run with the connection’s token', async () => {
    const { url, stoa } = await gateway()
    const anonymous = run(client(url), 'subscription { mine }')
    await waitFor(() => anonymous.ended(), 'the refusal')
    expect(anonymous.got[0]!.errors![0]!.extensions!.code).to.equal('UNAUTHENTICATED')
    const allowed = run(client(url, voter('ada')), 'subscription { mine }')
    await until(
      () => allowed.got.length > 0,
      () => stoa.emit('vote.recorded', { voter: 'x' }),
    )
    expect(allowed.got[0]!.data).to.deep.equal({ mine: { voter: 'x' } })
    // A forged token is verified by the open action, as over HTTP.
    const forged = run(client(url, 'not.a.token'), 'subscription { mine }')
    await waitFor(() => forged.ended(), 'the refusal')
    expect(forged.got[0]!.errors![0]!.extensions!.code).to.equal('UNAUTHENTICATED')
  })

  it('maps each event through an action with the subscriber’s identity, typed by its result, one call per event and identity', async () => {
    const { url, stoa } = await gateway({
      subscriptions: {
        tally: { event: 'vote.*', map: 'role:results,cmd:tally' },
        secret: { event: 'vote.*', map: 'role:results,cmd:secret' },
      },
    })
    const query = 'subscription { tally { votes heard } }'
    const subscribers = [run(client(url), query), run(client(url), query), run(client(url, voter('ada')), query)]
    await until(
      () => subscribers.every((s) => s.got.length > 0),
      () => stoa.emit('vote.warmed', {}),
    )
    expect(subscribers[0]!.got[0]!.errors).to.equal(undefined)
    expect(subscribers[0]!.got[0]!.data!.tally.heard).to.equal('vote.warmed')
    const seen = subscribers.map((s) => s.got.length)
    const before = tallies
    // Skipped (the map answered null), then sent: two calls each, one for both anonymous subscribers.
    await stoa.emit('vote.recorded', { skip: true })
    await stoa.emit('vote.recorded', {})
    await waitFor(() => subscribers.every((s, i) => s.got.length === seen[i]! + 1), 'the second event')
    expect(tallies - before).to.equal(4)
    const last = subscribers.map((s) => s.got.at(-1)!.data!.tally)
    expect(last[0]).to.deep.equal(last[1])
    expect(last[0]!.heard).to.equal('vote.recorded')
    // A map the subscriber may not run ends the subscription with its code.
    const refused = run(client(url, voter('bo', ['admin'])), 'subscription { secret }')
    await until(
      () => refused.ended(),
      () => stoa.emit('vote.recorded', {}),
    )
    expect(JSON.stringify(refused.failed() ?? refused.got)).to.contain('FORBIDDEN')
  })

  it('holds at most maxConnections WebSockets and event streams together, answering 503 past them', async () => {
    const { url } = await gateway({ maxConnections: 2 })
    const first = client(url)
    const live = run(first, 'subscription { voteRecorded }')
    await new Promise((resolve) => first.on('connected', resolve))
    // An event stream on the same path counts against the same limit.
    const stream = new AbortController()
    closers.push(() => stream.abort())
    const sse = await streamOpen(url.replace('ws', 'http'), stream.signal)
    expect(sse.status).to.equal(200)
    const upgrade = () =>
      new Promise<{ status: number; retryAfter: string | undefined; ws?: WebSocket }>((resolve, reject) => {
        const ws = new WebSocket(url, 'graphql-transport-ws')
        ws.on('unexpected-response', (_req, res) =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }),
        )
        ws.on('open', () => resolve({ status: 101, retryAfter: undefined, ws }))
        ws.on('error', reject)
      })
    expect(await upgrade()).to.deep.equal({ status: 503, retryAfter: '1' })
    const refused = await streamOpen(url.replace('ws', 'http'))
    expect(refused.status).to.equal(503)
    expect(((await refused.json()) as { error: { code: string } }).error.code).to.equal('OVERLOADED')
    // A connection that ends gives its place back: the socket's, then the stream's.
    live.stop()
    await first.dispose()
    let again = await upgrade()
    for (let i = 0; i < 50 && again.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 20))
      again = await upgrade()
    }
    expect(again.status).to.equal(101)
    closers.push(() => again.ws?.terminate())
    expect((await upgrade()).status).to.equal(503)
    stream.abort()
    let next = await upgrade()
    for (let i = 0; i < 50 && next.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 20))
      next = await upgrade()
    }
    expect(next.status).to.equal(101)
    next.ws?.terminate()
  })

  it('refuses hostile operations and other origins', async () => {
    const { url } = await gateway({ maxDepth: 2, introspection: false })
    const c = client(url)
    const deep = run(c, '{ __typename } subscription { voteRecorded }')
    await waitFor(() => deep.ended(), 'the refusal')
    expect(JSON.stringify(deep.failed() ?? deep.got)).to.contain('INVALID_MESSAGE')
    const intro = run(c, 'query { __schema { types { name } } }')
    await waitFor(() => intro.ended(), 'the refusal')
    expect(JSON.stringify(intro.failed() ?? intro.got)).to.contain('INVALID_MESSAGE')
    const tooDeep = run(c, 'query { __type(name: "Query") { fields { name } } }')
    await waitFor(() => tooDeep.ended(), 'the refusal')
    expect(JSON.stringify(tooDeep.failed() ?? tooDeep.got)).to.contain('depth')
    // A page on another origin may not open the socket (cross-site WebSocket hijacking).
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url, 'graphql-transport-ws', { headers: { origin: 'https://evil.example.com' } })
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => reject(new Error('opened')))
      ws.on('error', () => undefined)
    })
    expect(status).to.equal(403)
    // Not JSON: the socket is closed with graphql-ws's code for a bad message, the server goes on.
    const raw = new WebSocket(url, 'graphql-transport-ws')
    closers.push(() => raw.terminate())
    const closed = new Promise<number>((resolve) => raw.on('close', (code) => resolve(code)))
    await new Promise((r) => raw.once('open', r))
    raw.send('{not json')
    expect(await closed).to.equal(4400)
  })
})

describe('graphql plugin over server-sent events (graphql-sse)', function () {
  this.timeout(20000)
  const closers: (() => Promise<unknown> | unknown)[] = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
  })

  async function gateway(options: GraphqlOptions = {}, bus = createMemoryBus()) {
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: { voter: ['vote:cast', 'results:watch'] } })
      .add('role:vote,cmd:cast', {
        permission: 'vote:cast',
        schema: z.object({ choice: z.string() }),
        handler: async (msg, ctx) => {
          await ctx.emit('vote.recorded', { voter: ctx.identity!.sub, choice: msg.choice })
          return { ok: true }
        },
      })
      .add('role:results,cmd:watch', { permission: 'results:watch', handler: () => ({}) })
      .add('role:results,cmd:secret', { permission: 'results:watch', handler: () => ({ secret: true }) })
      .use(web, { routes: {} })
      .use(graphql, {
        mutations: { castVote: 'role:vote,cmd:cast' },
        subscriptions: {
          voteRecorded: 'vote.recorded',
          mine: { event: 'vote.recorded', open: 'role:results,cmd:watch' },
          secret: { event: 'vote.recorded', map: 'role:results,cmd:secret' },
        },
        ...options,
      })
    stoa.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    await stoa.ready()
    const server = await serveWeb(stoa)
    closers.push(
      () => stoa.close(),
      () => server.close(),
    )
    return { stoa, url: `${server.url}/graphql` }
  }

  /** A real graphql-sse client (distinct connections: one stream per operation). */
  function client(url: string, token?: string) {
    const c = createSseClient({
      url,
      retryAttempts: 0,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })
    closers.push(() => c.dispose())
    return c
  }

  function run(c: ReturnType<typeof createSseClient>, query: string) {
    const got: Answer[] = []
    let failure: unknown
    let ended = false
    const stop = c.subscribe(
      { query },
      {
        next: (r) => void got.push(r as Answer),
        error: (e) => {
          failure = e
          ended = true
        },
        complete: () => {
          ended = true
        },
      },
    )
    closers.push(() => stop())
    return { got, failed: () => failure, ended: () => ended }
  }

  const codes = (r: { got: Answer[]; failed: () => unknown }) => JSON.stringify(r.failed() ?? r.got)

  it('pushes each event to subscribers on every gateway, wherever the vote was cast, and runs mutations', async () => {
    const bus = createMemoryBus()
    const a = await gateway({}, bus)
    const b = await gateway({}, bus)
    const onA = run(client(a.url, voter('ada')), 'subscription { voteRecorded }')
    const onB = run(client(b.url), 'subscription { voteRecorded }')
    await until(
      () => onA.got.length > 0 && onB.got.length > 0,
      () => a.stoa.emit('vote.recorded', { warmup: true }),
    )
    const cast = run(client(a.url, voter('ada')), 'mutation { castVote(choice: "cats") }')
    await waitFor(() => cast.ended(), 'the mutation')
    expect(cast.got).to.deep.equal([{ data: { castVote: { ok: true } } }])
    const seen = (r: Answer) =>
      JSON.stringify(r.data) === JSON.stringify({ voteRecorded: { voter: 'ada', choice: 'cats' } })
    await waitFor(() => onA.got.some(seen) && onB.got.some(seen), 'the vote on both gateways')
    // The same refusals as over HTTP and WebSocket, with their codes.
    const anonymous = run(client(b.url), 'mutation { castVote(choice: "dogs") }')
    await waitFor(() => anonymous.ended(), 'the refusal')
    expect(anonymous.got[0]!.errors![0]!.extensions!.code).to.equal('UNAUTHENTICATED')
  })

  it('guards a subscription with its open action, and ends one whose map the caller may not run, with the codes', async () => {
    const { url, stoa } = await gateway()
    const anonymous = run(client(url), 'subscription { mine }')
    await waitFor(() => anonymous.ended(), 'the refusal')
    expect(anonymous.got[0]!.errors![0]!.extensions!.code).to.equal('UNAUTHENTICATED')
    const allowed = run(client(url, voter('ada')), 'subscription { mine }')
    await until(
      () => allowed.got.length > 0,
      () => stoa.emit('vote.recorded', { voter: 'x' }),
    )
    expect(allowed.got[0]).to.deep.equal({ data: { mine: { voter: 'x' } } })
    const forbidden = run(client(url, voter('bo', ['admin'])), 'subscription { secret }')
    await until(
      () => forbidden.ended(),
      () => stoa.emit('vote.recorded', {}),
    )
    expect(forbidden.got.at(-1)!.errors![0]!.extensions!.code).to.equal('FORBIDDEN')
  })

  it('drops a client that stops reading rather than buffer for it without bound', async () => {
    const { stoa, url } = await gateway({ maxBufferedBytes: 64 * 1024 })
    const { port } = new URL(url)
    const raw = connect(Number(port), '127.0.0.1')
    closers.push(() => void raw.destroy())
    let received = 0
    let ended = false
    raw.on('close', () => {
      ended = true
    })
    const body = JSON.stringify({ query: 'subscription { voteRecorded }' })
    raw.write(
      `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    )
    await new Promise<void>((resolve) => raw.once('data', () => resolve()))
    raw.pause()
    raw.on('data', (d) => {
      received += d.length
    })
    const big = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 2000 && !ended; i++) {
      await stoa.emit('vote.recorded', { big })
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5))
    }
    raw.resume()
    await waitFor(() => ended, 'the slow client to be dropped', 15000)
    expect(received).to.be.lessThan(2000 * big.length)
    const entries = (stoa.log as unknown as ReturnType<typeof quietLogger>).entries
    expect(entries.some((e) => e.message === 'a slow event-stream client was dropped')).to.equal(true)
  })

  it('holds at most maxConnections event streams, answering 503 OVERLOADED past them', async () => {
    const { url, stoa } = await gateway({ maxConnections: 1 })
    const c = client(url)
    const live = run(c, 'subscription { voteRecorded }')
    await until(
      () => live.got.length > 0,
      () => stoa.emit('vote.recorded', {}),
    )
    const refused = await streamOpen(url)
    expect(refused.status).to.equal(503)
    expect(refused.headers.get('retry-after')).to.equal('1')
    expect(((await refused.json()) as { error: { code: string } }).error.code).to.equal('OVERLOADED')
    // The stream's end gives its place back.
    await c.dispose()
    const again = new AbortController()
    closers.push(() => again.abort())
    let res = await streamOpen(url, again.signal)
    for (let i = 0; i < 50 && res.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 20))
      res = await streamOpen(url, again.signal)
    }
    expect(res.status).to.equal(200)
  })

  it('refuses hostile requests: deep or introspecting documents, other origins, bad and oversized bodies', async () => {
    const { url } = await gateway({ maxDepth: 2, introspection: false, maxBodyBytes: 2048 })
    const c = client(url)
    const intro = run(c, 'query { __schema { types { name } } }')
    await waitFor(() => intro.ended(), 'the refusal')
    expect(codes(intro)).to.contain('INVALID_MESSAGE')
    const deep = run(c, 'query { __type(name: "Query") { fields { name } } }')
    await waitFor(() => deep.ended(), 'the refusal')
    expect(codes(deep)).to.contain('depth')
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
        body,
      })
    const code = async (res: Response) => [res.status, ((await res.json()) as { error: { code: string } }).error.code]
    // A page on another origin may not open a stream (it would ride the visitor's cookie).
    expect(
      await code(await post('{"query":"subscription { voteRecorded }"}', { origin: 'https://evil.example.com' })),
    ).to.deep.equal([403, 'FORBIDDEN'])
    expect(await code(await post('{"query": 3}'))).to.deep.equal([400, 'INVALID_MESSAGE'])
    expect(await code(await post('{"query": '))).to.deep.equal([400, 'INVALID_JSON'])
    expect(await code(await post(JSON.stringify({ query: `{ ${' '.repeat(4096)} }` })))).to.deep.equal([
      413,
      'PAYLOAD_TOO_LARGE',
    ])
    // Without Accept: text/event-stream the route answers as GraphQL over HTTP does.
    const plain = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"mutation { castVote(choice: \\"x\\") }"}',
    })
    expect(plain.headers.get('content-type')).to.match(/^application\/json/)
  })
})
