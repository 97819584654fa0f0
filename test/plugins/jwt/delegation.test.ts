import { expect } from 'chai'
import type { Identity, Stoa, Transport } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import type { Envelope } from '../../../actions/transport.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { tapTransport } from '../../fixtures/tap.js'
import { craft, DELEGATION_SECRET, hmac, nowSec, OTHER_SECRET, SECRET } from '../../helpers/jwt.js'
import { waitFor } from '../../helpers/wait.js'

/** A client transport that holds every envelope it is given, as a queue nobody consumes yet. */
function holdingTransport(): Transport & { held: Envelope[] } {
  const held: Envelope[] = []
  return {
    name: 'queue',
    held,
    async client() {
      return {
        deliver: async (e: Envelope) => {
          held.push(structuredClone(e))
          return { ok: true as const, out: undefined }
        },
      }
    },
    async close() {},
  }
}

const ROLES = { 'user-client': ['order:place', 'order:audit'], system: ['*'] }

function gateway(queue: Transport, delegation: boolean): Stoa {
  return createStoa({ name: 'gateway' })
    .use(jwt, {
      secret: SECRET,
      clockToleranceSec: 0,
      ...(delegation ? { delegation: { secret: DELEGATION_SECRET } } : {}),
    })
    .use(authz, { roles: { 'user-client': ['order:submit'] } })
    .client(queue)
    .add(
      'role:order,cmd:submit',
      async (msg, ctx) => {
        await ctx.send('orders.order.place', { item: msg.item })
        return { accepted: true }
      },
      { permission: 'order:submit' },
    )
}

const taps = new WeakMap<Stoa, ReturnType<typeof tapTransport>>()

/** Delivers an envelope to `s` as a listening transport would. */
async function deliver(s: Stoa, e: Envelope) {
  let tap = taps.get(s)
  if (tap === undefined) {
    tap = tapTransport()
    taps.set(s, tap)
    s.listen(tap)
  }
  await s.ready()
  return tap.host.dispatch(e)
}

function worker(seen: { identity: Identity | undefined; token: string | undefined }[]): Stoa {
  return createStoa({ name: 'orders' })
    .use(jwt, { secret: SECRET, clockToleranceSec: 0, delegation: { secret: DELEGATION_SECRET } })
    .use(authz, { roles: ROLES })
    .add('task:orders.order.place', (_m, ctx) => void seen.push({ identity: ctx.identity, token: ctx.token }), {
      permission: 'order:place',
    })
    .add('task:orders.order.cancel', (_m, ctx) => void seen.push({ identity: ctx.identity, token: ctx.token }), {
      permission: 'order:place',
    })
}

describe('jwt delegation: a queued task outlives the token it was sent with', () => {
  it('a task held in the queue past its token exp still runs as that user', async function () {
    this.timeout(10_000)
    const queue = holdingTransport()
    const gw = gateway(queue, true)
    const seen: { identity: Identity | undefined; token: string | undefined }[] = []
    const orders = worker(seen)
    const exp = nowSec() + 1
    const user = craft({ alg: 'HS256', typ: 'JWT' }, { sub: 'u7', roles: ['user-client'], exp }, hmac(SECRET))
    expect(await gw.act('role:order,cmd:submit', { item: 'box' }, { token: user })).to.deep.equal({ accepted: true })
    expect(queue.held).to.have.length(1)
    // The user's token expires while the task waits.
    await waitFor(() => Date.now() > exp * 1000 + 1000, "the user token's expiry", 4000)
    const err = await gw
      .act('role:order,cmd:submit', { item: 'box' }, { token: user })
      .catch((e: { details?: { reason?: string } }) => e.details?.reason)
    expect(err, 'the user token itself is now refused').to.equal('expired')
    const reply = await deliver(orders, queue.held[0]!)
    expect(reply).to.deep.equal({ ok: true, out: undefined })
    expect(seen).to.have.length(1)
    expect(seen[0]!.identity!.sub).to.equal('u7')
    expect(seen[0]!.identity!.roles).to.deep.equal(['user-client'])
    expect((seen[0]!.identity!.claims.act as { sub: string }).sub).to.equal('gateway')
    expect(seen[0]!.token).not.to.equal(user)
    await gw.close()
    await orders.close()
  })

  it('without delegation, the same task is refused: expired', async function () {
    this.timeout(10_000)
    const queue = holdingTransport()
    const gw = gateway(queue, false)
    const seen: { identity: Identity | undefined; token: string | undefined }[] = []
    const orders = worker(seen)
    const exp = nowSec() + 1
    const user = craft({ alg: 'HS256' }, { sub: 'u7', roles: ['user-client'], exp }, hmac(SECRET))
    await gw.act('role:order,cmd:submit', { item: 'box' }, { token: user })
    await waitFor(() => Date.now() > exp * 1000 + 1000, "the user token's expiry", 4000)
    const reply = await deliver(orders, queue.held[0]!)
    if (reply.ok) expect.fail('the task ran')
    expect(reply.error.code).to.equal('UNAUTHENTICATED')
    expect(reply.error.details?.reason).to.equal('expired')
    expect(seen).to.have.length(0)
    await gw.close()
    await orders.close()
  })

  describe('forged and replayed delegation tokens', () => {
    let queue: ReturnType<typeof holdingTransport>
    let gw: Stoa
    let orders: Stoa
    let seen: { identity: Identity | undefined; token: string | undefined }[]
    let sent: Envelope

    before(async () => {
      queue = holdingTransport()
      gw = gateway(queue, true)
      seen = []
      orders = worker(seen)
      const user = signToken({ sub: 'u7', roles: ['user-client'] }, { secret: SECRET, expiresInSec: 60 })
      await gw.act('role:order,cmd:submit', { item: 'box' }, { token: user })
      sent = queue.held[0]!
    })

    after(async () => {
      await gw.close()
      await orders.close()
    })

    async function refusedWith(e: Envelope): Promise<string | undefined> {
      const before = seen.length
      const reply = await deliver(orders, e)
      expect(seen.length, 'the task did not run').to.equal(before)
      if (reply.ok) return 'ran'
      expect(reply.error.code).to.equal('UNAUTHENTICATED')
      return reply.error.details?.reason as string
    }

    function delegationClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
      return {
        sub: 'u7',
        roles: ['user-client'],
        act: { sub: 'gateway' },
        aud: 'stoa:delegation',
        iat: nowSec(),
        exp: nowSec() + 3600,
        mid: sent.meta.id,
        tsk: 'orders.order.place',
        ...extra,
      }
    }

    it('replayed on another message: refused (bound to its message id)', async () => {
      expect(await refusedWith({ ...sent, meta: { ...sent.meta, id: 'another-message' } })).to.equal('binding')
    })

    it('replayed on another task: refused', async () => {
      expect(await refusedWith({ ...sent, name: 'orders.order.cancel' })).to.equal('binding')
    })

    it('forged with another key: refused', async () => {
      const forged = craft(
        { alg: 'HS256', typ: 'stoa-delegation+jwt' },
        delegationClaims({ roles: ['user-client', 'user-business'] }),
        hmac(OTHER_SECRET),
      )
      expect(await refusedWith({ ...sent, meta: { ...sent.meta, token: forged } })).to.equal('signature')
    })

    it('forged with the user key (a user token dressed as delegation): refused', async () => {
      const forged = craft({ alg: 'HS256', typ: 'stoa-delegation+jwt' }, delegationClaims(), hmac(SECRET))
      expect(await refusedWith({ ...sent, meta: { ...sent.meta, token: forged } })).to.equal('signature')
    })

    it('claiming the system identity, even signed with the delegation key: refused', async () => {
      const forged = craft(
        { alg: 'HS256', typ: 'stoa-delegation+jwt' },
        delegationClaims({ sub: 'system', roles: ['system'] }),
        hmac(DELEGATION_SECRET),
      )
      expect(await refusedWith({ ...sent, meta: { ...sent.meta, token: forged } })).to.equal('type')
    })

    it('living longer than the delegation lifetime: refused', async () => {
      const forged = craft(
        { alg: 'HS256', typ: 'stoa-delegation+jwt' },
        delegationClaims({ exp: nowSec() + 30 * 24 * 3600 }),
        hmac(DELEGATION_SECRET),
      )
      expect(await refusedWith({ ...sent, meta: { ...sent.meta, token: forged } })).to.equal('lifetime')
    })

    it('the genuine one, on its own message: runs', async () => {
      expect(await refusedWith(sent).catch(() => 'ran')).to.equal('ran')
    })
  })

  it('a call made while running on a delegation token is rebound to its own message, with the same expiry', async () => {
    const bus = createMemoryBus()
    const queue = holdingTransport()
    const gw = gateway(queue, true)
    const audits: Identity[] = []
    const audit = createStoa({ name: 'audit' })
      .use(jwt, { secret: SECRET, delegation: { secret: DELEGATION_SECRET } })
      .use(authz, { roles: ROLES })
      .add('role:audit,cmd:record', (_m, ctx) => void audits.push(ctx.identity!), { permission: 'order:audit' })
      .listen(createMemoryTransport({ bus }))
    const orders = createStoa({ name: 'orders' })
      .use(jwt, { secret: SECRET, delegation: { secret: DELEGATION_SECRET } })
      .use(authz, { roles: ROLES })
      .client(createMemoryTransport({ bus }), ['role:audit'])
      .add(
        'task:orders.order.place',
        async (_m, ctx) => {
          await ctx.act('role:audit,cmd:record')
        },
        { permission: 'order:place' },
      )
    await audit.ready()
    await orders.ready()
    const user = signToken({ sub: 'u9', roles: ['user-client'] }, { secret: SECRET, expiresInSec: 60 })
    await gw.act('role:order,cmd:submit', {}, { token: user })
    const reply = await deliver(orders, queue.held[0]!)
    expect(reply.ok, JSON.stringify(reply)).to.equal(true)
    expect(audits).to.have.length(1)
    expect(audits[0]!.sub).to.equal('u9')
    expect(audits[0]!.roles).to.deep.equal(['user-client'])
    const first = JSON.parse(Buffer.from(queue.held[0]!.meta.token!.split('.')[1]!, 'base64url').toString()) as {
      exp: number
    }
    expect(audits[0]!.claims.exp).to.equal(first.exp)
    for (const s of [gw, orders, audit]) await s.close()
  })
})
