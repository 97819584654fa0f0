import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import type { Harness } from '../../../plugins/testing/index.js'
import { createHarness, expectCode } from '../../../plugins/testing/index.js'
import { DELEGATION_SECRET, SECRET } from '../../helpers/jwt.js'

/** A token's claims, read without verifying. */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

/*
 * The jwt plugin checks `exp` and `nbf` by the instance's clock and dates the tokens it signs
 * by it, as signToken does with the clock it is given: under the virtual clock of stoa/testing
 * a token expires when the test moves time past its `exp`.
 */
describe('jwt plugin on the virtual clock: tokens expire when the test moves time', () => {
  let h: Harness

  afterEach(() => h?.close())

  it('accepts a token until its exp on the clock, then refuses it as expired', async () => {
    h = createHarness()
    await h.start((o) =>
      createStoa({ name: 'orders', ...o })
        .use(jwt, { secret: SECRET, clockToleranceSec: 0, cacheMs: 0 })
        .add('role:orders,cmd:mine', (_msg, ctx) => ({ sub: ctx.identity?.sub })),
    )
    const token = signToken({ sub: 'ada' }, { secret: SECRET, expiresInSec: 60, clock: h.clock })
    const claims = claimsOf(token)
    expect(claims.iat).to.equal(Math.floor(h.clock.now() / 1000))
    expect(claims.exp).to.equal((claims.iat as number) + 60)
    expect(await h.act('role:orders,cmd:mine', {}, { token })).to.deep.equal({ sub: 'ada' })
    await h.advance('59s')
    expect(await h.act('role:orders,cmd:mine', {}, { token })).to.deep.equal({ sub: 'ada' })
    await h.advance('1s')
    const err = await expectCode(h.act('role:orders,cmd:mine', {}, { token }), 'UNAUTHENTICATED')
    expect(err.details?.reason).to.equal('expired')
  })

  /** A gateway that sends a task for its caller, signing a delegation token valid 10 minutes. */
  async function start(seen: string[]): Promise<void> {
    const keys = { secret: SECRET, clockToleranceSec: 0, delegation: { secret: DELEGATION_SECRET, ttlMs: 600_000 } }
    await h.start((o) =>
      createStoa({ name: 'gateway', ...o })
        .use(jwt, keys)
        .add('role:order,cmd:submit', async (_msg, ctx) => {
          await ctx.send('orders.order.place', {})
        }),
    )
    await h.start((o) =>
      createStoa({ name: 'orders', ...o })
        .use(jwt, keys)
        .add('task:orders.order.place', (_msg, ctx) => void seen.push(ctx.token!)),
    )
  }

  it("dates a task's delegation token by the sending instance's clock", async () => {
    h = createHarness()
    const seen: string[] = []
    await start(seen)
    await h.advance('1h')
    const token = signToken({ sub: 'ada' }, { secret: SECRET, expiresInSec: 3600, clock: h.clock })
    await h.act('role:order,cmd:submit', {}, { token })
    await h.settle()
    expect(seen).to.have.length(1)
    const claims = claimsOf(seen[0]!)
    expect(claims.sub).to.equal('ada')
    expect(claims.iat).to.equal(Math.floor(h.clock.now() / 1000))
    expect(claims.exp).to.equal((claims.iat as number) + 600)
  })

  it('refuses a task that waited past its delegation token on the clock: it is dead-lettered, not run', async () => {
    h = createHarness({ faults: [{ fault: 'delay', name: 'orders.order.place', delayMs: '11m' }] })
    const seen: string[] = []
    await start(seen)
    const token = signToken({ sub: 'ada' }, { secret: SECRET, expiresInSec: 3600, clock: h.clock })
    await h.act('role:order,cmd:submit', {}, { token })
    await h.settle()
    expect(seen).to.deep.equal([])
    expect(h.deadLetters.map((d) => [d.name, d.error.code])).to.deep.equal([['orders.order.place', 'UNAUTHENTICATED']])
  })
})
