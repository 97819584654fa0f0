import { expect } from 'chai'
import type { Identity, Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, drainQueue, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { craft, DELEGATION_SECRET, hmac, nowSec, OTHER_SECRET, SECRET } from '../../helpers/jwt.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const RETRY = { attempts: 1, backoffMs: 100, maxBackoffMs: 100 }

describe('identity through every hop, against RabbitMQ', function () {
  this.timeout(30_000)
  let prefix: string
  let started: Stoa<any>[]
  let servers: WebServer[]

  beforeEach(() => {
    prefix = uniquePrefix('identity')
    started = []
    servers = []
  })

  afterEach(async () => {
    for (const s of servers) await s.close()
    for (const s of started.reverse()) await s.close()
    await deleteTopology(prefix, ['gateway', 'orders'], RETRY)
  })

  const amqp = () => createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY })

  /** The edge: POST /orders, for a user whose roles grant order:submit, sends the task on. */
  async function gateway(delegation: boolean): Promise<string> {
    const gw = createStoa({ name: 'gateway', logger: quietLogger() })
      .use(jwt, {
        secret: SECRET,
        audience: 'gateway',
        clockToleranceSec: 0,
        ...(delegation ? { delegation: { secret: DELEGATION_SECRET } } : {}),
      })
      .use(authz, { roles: { 'user-client': ['order:submit'] } })
      .use(web, { routes: { 'POST /orders': { pattern: 'role:order,cmd:submit', status: 202 } } })
      .add(
        'role:order,cmd:submit',
        async (msg, ctx) => {
          await ctx.send('orders.order.place', { item: msg.item })
          return { accepted: true }
        },
        { permission: 'order:submit' },
      )
      .client(amqp())
    started.push(gw)
    await gw.ready()
    const server = await serveWeb(gw)
    servers.push(server)
    return server.url
  }

  /** Another service: the task, then a nested act, which records who it runs for. */
  async function orders(seen: { identity: Identity; token: string | undefined }[], delegation: boolean): Promise<Stoa> {
    const s = createStoa({ name: 'orders', logger: quietLogger() })
      .use(jwt, {
        secret: SECRET,
        audience: 'orders',
        clockToleranceSec: 0,
        ...(delegation ? { delegation: { secret: DELEGATION_SECRET } } : {}),
      })
      .use(authz, { roles: { 'user-client': ['order:place', 'order:audit'] } })
      .add(
        'task:orders.order.place',
        async (msg, ctx) => {
          await ctx.act('role:orders,cmd:audit', { item: msg.item })
        },
        { permission: 'order:place' },
      )
      .add('role:orders,cmd:audit', (_m, ctx) => void seen.push({ identity: ctx.identity!, token: ctx.token }), {
        permission: 'order:audit',
      })
      .listen(amqp())
    started.push(s)
    return s.ready()
  }

  function post(url: string, token: string, body: unknown): Promise<Response> {
    return fetch(`${url}/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  }

  it('an identity verified at the HTTP edge reaches an action three hops away with the same sub and roles', async () => {
    const seen: { identity: Identity; token: string | undefined }[] = []
    await orders(seen, false)
    const url = await gateway(false)
    const token = signToken(
      { sub: 'u-ada', roles: ['user-client', 'user-mover'] },
      { secret: SECRET, expiresInSec: 300, audience: ['gateway', 'orders'] },
    )
    const res = await post(url, token, { item: 'sofa' })
    expect(res.status).to.equal(202)
    await waitFor(() => seen.length === 1, 'the nested act in orders')
    expect(seen[0]!.identity.sub).to.equal('u-ada')
    expect(seen[0]!.identity.roles).to.deep.equal(['user-client', 'user-mover'])
    // The same token, verified again at the second service, not trusted because it came over the bus.
    expect(seen[0]!.token).to.equal(token)
  })

  it('is refused at the second service when the token is not meant for it, even though the edge accepted it', async () => {
    const seen: { identity: Identity; token: string | undefined }[] = []
    await orders(seen, false)
    const url = await gateway(false)
    const token = signToken(
      { sub: 'u-ada', roles: ['user-client'] },
      { secret: SECRET, expiresInSec: 300, audience: 'gateway' },
    )
    expect((await post(url, token, { item: 'sofa' })).status).to.equal(202)
    const raw = await rawChannel()
    try {
      const dead: Awaited<ReturnType<typeof drainQueue>> = []
      const until = Date.now() + 10_000
      while (dead.length === 0 && Date.now() < until) {
        dead.push(...(await drainQueue(raw.ch, names(prefix).dlq('orders'))))
        if (dead.length === 0) await settle(50)
      }
      expect(dead).to.have.length(1)
      expect(dead[0]!.headers['x-stoa-error-code']).to.equal('UNAUTHENTICATED')
    } finally {
      await raw.close()
    }
    expect(seen).to.have.length(0)
  })

  it('a task held in the queue past its token exp still runs as that user (delegation)', async () => {
    const url = await gateway(true)
    const exp = nowSec() + 2
    const token = craft(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'u-bob', roles: ['user-client'], aud: ['gateway', 'orders'], exp },
      hmac(SECRET),
    )
    expect((await post(url, token, { item: 'lamp' })).status).to.equal(202)
    // Nobody consumes the task yet: it waits in the queue while the user's token expires.
    await waitFor(() => Date.now() > exp * 1000 + 1000, "the user token's expiry", 5000)
    expect((await post(url, token, { item: 'lamp' })).status, 'the token itself is now refused').to.equal(401)
    const seen: { identity: Identity; token: string | undefined }[] = []
    await orders(seen, true)
    await waitFor(() => seen.length === 1, 'the task, run once the worker starts', 10_000)
    expect(seen[0]!.identity.sub).to.equal('u-bob')
    expect(seen[0]!.identity.roles).to.deep.equal(['user-client'])
    expect((seen[0]!.identity.claims.act as { sub: string }).sub).to.equal('gateway')
  })

  it('a forged delegation token published straight to the queue: dead-lettered UNAUTHENTICATED, nothing runs, the service keeps serving', async () => {
    const seen: { identity: Identity; token: string | undefined }[] = []
    await orders(seen, true)
    const raw = await rawChannel()
    try {
      const forged = craft(
        { alg: 'HS256', typ: 'stoa-delegation+jwt' },
        {
          sub: 'u-eve',
          roles: ['user-client'],
          act: { sub: 'gateway' },
          aud: 'stoa:delegation',
          iat: nowSec(),
          exp: nowSec() + 600,
          mid: 'm-forged',
          tsk: 'orders.order.place',
        },
        hmac(OTHER_SECRET),
      )
      raw.ch.sendToQueue(names(prefix).tasks('orders'), Buffer.from('{"item":"x"}'), {
        messageId: 'm-forged',
        type: 'orders.order.place',
        contentType: 'application/json',
        headers: { 'x-stoa-token': forged },
      })
      const dead: Awaited<ReturnType<typeof drainQueue>> = []
      const until = Date.now() + 10_000
      while (dead.length === 0 && Date.now() < until) {
        dead.push(...(await drainQueue(raw.ch, names(prefix).dlq('orders'))))
        if (dead.length === 0) await settle(50)
      }
      expect(dead).to.have.length(1)
      expect(dead[0]!.headers['x-stoa-error-code']).to.equal('UNAUTHENTICATED')
      expect(seen).to.have.length(0)
    } finally {
      await raw.close()
    }
    // Still serving: a genuine task from the gateway runs.
    const url = await gateway(true)
    const token = signToken(
      { sub: 'u-ada', roles: ['user-client'] },
      { secret: SECRET, expiresInSec: 300, audience: ['gateway', 'orders'] },
    )
    expect((await post(url, token, { item: 'chair' })).status).to.equal(202)
    await waitFor(() => seen.length === 1, 'the genuine task')
    expect(seen[0]!.identity.sub).to.equal('u-ada')
  })
})
