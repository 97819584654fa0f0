import { generateKeyPairSync } from 'node:crypto'
import { expect } from 'chai'
import jsonwebtoken from 'jsonwebtoken'
import type { Identity } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import jwt, { fromEnvironment, signSystemToken, signToken } from '../../../plugins/jwt/index.js'
import { buildKeyRings } from '../../../plugins/jwt/keys.js'
import { jwtOptions } from '../../../plugins/jwt/options.js'
import { craft, hmac, nowSec, rsa, SECRET, SYSTEM_SECRET } from '../../helpers/jwt.js'

describe('jwt plugin', () => {
  it('verifies once per hop: a nested act with the same token inherits the identity', async () => {
    const seen: Identity[] = []
    const stoa = createStoa()
      .use(jwt, { secret: SECRET, cacheSize: 0 })
      .add('role:inner', (_m, ctx) => void seen.push(ctx.identity!))
      .add('role:outer', async (_m, ctx) => {
        seen.push(ctx.identity!)
        await ctx.act('role:inner')
      })
    await stoa.act('role:outer', {}, { token: signToken({ sub: 'u1' }, { secret: SECRET, expiresInSec: 60 }) })
    expect(seen).to.have.length(2)
    // With no cache, a second verification would have made a new identity object.
    expect(seen[1]).to.equal(seen[0])
  })

  it('verifies a nested act made with another token afresh', async () => {
    const seen: string[] = []
    const other = signToken({ sub: 'u2' }, { secret: SECRET, expiresInSec: 60 })
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .add('role:inner', (_m, ctx) => void seen.push(ctx.identity!.sub))
      .add('role:outer', async (_m, ctx) => {
        seen.push(ctx.identity!.sub)
        await ctx.act('role:inner', {}, { token: other })
        await ctx.act('role:inner', {}, { token: 'forged' }).catch((e: StoaError) => seen.push(e.code))
      })
    await stoa.act('role:outer', {}, { token: signToken({ sub: 'u1' }, { secret: SECRET, expiresInSec: 60 }) })
    expect(seen).to.deep.equal(['u1', 'u2', 'UNAUTHENTICATED'])
  })

  it('remembers a verified token briefly, never past its expiry', async () => {
    const seen: Identity[] = []
    const stoa = createStoa()
      .use(jwt, { secret: SECRET, clockToleranceSec: 0 })
      .add('role:x', (_m, ctx) => void seen.push(ctx.identity!))
    const token = signToken({ sub: 'u1' }, { secret: SECRET, expiresInSec: 60 })
    await stoa.act('role:x', {}, { token })
    await stoa.act('role:x', {}, { token })
    expect(seen[1]).to.equal(seen[0])
    const expired = craft({ alg: 'HS256' }, { sub: 'u1', exp: nowSec() - 1 }, hmac(SECRET))
    const err = (await stoa.act('role:x', {}, { token: expired }).catch((e: unknown) => e)) as StoaError
    expect(err.details?.reason).to.equal('expired')
  })

  it('runs a call with no token with no identity (requiring one is authz)', async () => {
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .add('role:x', (_m, ctx) => ctx.identity ?? 'none')
    expect(await stoa.act('role:x')).to.equal('none')
  })

  it('runs event subscribers without an identity when the token they came with no longer verifies', async () => {
    const seen: (string | undefined)[] = []
    const stoa = createStoa({ name: 'tally' })
      .use(jwt, { secret: SECRET })
      .on('vote.recorded', (_m, ctx) => void seen.push(ctx.identity?.sub))
    await stoa.emit('vote.recorded', {}, { token: 'no.longer.valid' })
    await stoa.emit('vote.recorded', {}, { token: signToken({ sub: 'u1' }, { secret: SECRET, expiresInSec: 60 }) })
    const until = Date.now() + 2000
    while (seen.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
    expect(seen).to.deep.equal([undefined, 'u1'])
  })

  it('verifies RS256, PS256 and ES256 with the matching public key', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const rsaStoa = createStoa()
      .use(jwt, { publicKey: rsa().publicPem })
      .add('role:x', (_m, ctx) => ctx.identity!.sub)
    const ecStoa = createStoa()
      .use(jwt, { publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString() })
      .add('role:x', (_m, ctx) => ctx.identity!.sub)
    const rs = signToken({ sub: 'rs' }, { privateKey: rsa().privatePem, expiresInSec: 60 })
    const ps = jsonwebtoken.sign({ sub: 'ps' }, rsa().privateKey, { algorithm: 'PS256', expiresIn: 60 })
    const es = signToken({ sub: 'es' }, { privateKey: ec.privateKey, expiresInSec: 60 })
    expect(await rsaStoa.act('role:x', {}, { token: rs })).to.equal('rs')
    expect(await rsaStoa.act('role:x', {}, { token: ps })).to.equal('ps')
    expect(await ecStoa.act('role:x', {}, { token: es })).to.equal('es')
    // Across key families: refused.
    const err = (await ecStoa.act('role:x', {}, { token: rs }).catch((e: unknown) => e)) as StoaError
    expect(err.details?.reason).to.equal('algorithm')
  })

  it('accepts only the algorithms listed, when a list is given', async () => {
    const stoa = createStoa()
      .use(jwt, { secret: SECRET, publicKey: rsa().publicPem, algorithms: ['RS256'] })
      .add('role:x', () => 'ran')
    const err = (await stoa
      .act('role:x', {}, { token: signToken({ sub: 'u' }, { secret: SECRET, expiresInSec: 60 }) })
      .catch((e: unknown) => e)) as StoaError
    expect(err.details?.reason).to.equal('algorithm')
    expect(() => createStoa().use(jwt, { secret: SECRET, algorithms: ['ES256'] })).to.throw(
      StoaError,
      /no configured key verifies ES256/,
    )
  })

  it('reads the roles from the claim it is told (Keycloak, Cognito)', async () => {
    const keycloak = createStoa()
      .use(jwt, { secret: SECRET, rolesClaim: 'realm_access.roles' })
      .add('role:x', (_m, ctx) => ctx.identity!.roles)
    const cognito = createStoa()
      .use(jwt, { secret: SECRET, rolesClaim: 'cognito:groups' })
      .add('role:x', (_m, ctx) => ctx.identity!.roles)
    const kc = craft(
      { alg: 'HS256' },
      { sub: 'u', exp: nowSec() + 60, realm_access: { roles: ['user-mover'] } },
      hmac(SECRET),
    )
    const cg = craft(
      { alg: 'HS256' },
      { sub: 'u', exp: nowSec() + 60, 'cognito:groups': ['user-client'] },
      hmac(SECRET),
    )
    expect(await keycloak.act('role:x', {}, { token: kc })).to.deep.equal(['user-mover'])
    expect(await cognito.act('role:x', {}, { token: cg })).to.deep.equal(['user-client'])
  })

  it('refuses a system token where no system key is configured, and a user token as a system one', async () => {
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .add('role:x', (_m, ctx) => ctx.identity!.sub)
    const err = (await stoa
      .act('role:x', {}, { token: signSystemToken({ secret: SYSTEM_SECRET, expiresInSec: 60 }) })
      .catch((e: unknown) => e)) as StoaError
    expect(err.details?.reason).to.equal('type')
    expect(() => signToken({ sub: 'system' }, { secret: SECRET, expiresInSec: 60 })).to.throw(
      StoaError,
      /signSystemToken/,
    )
  })

  it('refuses to load without a key, naming the options', () => {
    expect(() => buildKeyRings(jwtOptions.parse({}), {})).to.throw(StoaError, /no key to verify tokens with/)
    expect(() => buildKeyRings(jwtOptions.parse({}), { secret: 'short' })).to.throw(StoaError, /at least 32/)
    expect(() => buildKeyRings(jwtOptions.parse({ publicKey: 'not a pem' }), {})).to.throw(
      StoaError,
      /option "publicKey"/,
    )
    expect(() => createStoa().use(jwt, { secret: 'short' })).to.throw(StoaError, /INVALID_OPTIONS|secret/)
  })

  it('falls back on JWT_SECRET and JWT_PUBLIC_KEY, read in one function', () => {
    expect(fromEnvironment({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: 'a\\nb' })).to.deep.equal({
      secret: SECRET,
      publicKey: 'a\nb',
    })
    expect(fromEnvironment({})).to.deep.equal({})
    const rings = buildKeyRings(jwtOptions.parse({}), { secret: SECRET })
    expect([...rings.user.algorithms]).to.deep.equal(['HS256'])
    // A key given in the options wins over the environment: JWT_SECRET adds no HS256.
    expect([
      ...buildKeyRings(jwtOptions.parse({ publicKey: rsa().publicPem }), { secret: SECRET }).user.algorithms,
    ]).not.to.include('HS256')
  })
})
