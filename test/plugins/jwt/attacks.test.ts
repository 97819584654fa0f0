import { expect } from 'chai'
import type { Identity, Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signSystemToken, signToken } from '../../../plugins/jwt/index.js'
import {
  attackerRsa,
  craft,
  hmac,
  nowSec,
  OTHER_SECRET,
  rsa,
  rsaSign,
  SECRET,
  SYSTEM_SECRET,
  userClaims,
} from '../../helpers/jwt.js'

const ISSUER = 'https://auth.test'

/** The claims of a token this service accepts: a mover, from our issuer, for this service. */
function good(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return userClaims({ iss: ISSUER, aud: 'moves', ...extra })
}

describe('jwt + authz: attacks that must fail', () => {
  let stoa: Stoa
  let ran: Identity[]

  beforeEach(async () => {
    ran = []
    stoa = createStoa({ name: 'moves' })
      .use(jwt, {
        secret: SECRET,
        publicKey: rsa().publicPem,
        issuer: ISSUER,
        audience: 'moves',
        clockToleranceSec: 0,
        system: { secret: SYSTEM_SECRET },
      })
      .use(authz, { roles: { 'user-mover': ['move:read'], 'user-business': ['move:*'], system: ['*'] } })
      .add(
        'role:move,cmd:list',
        (_m, ctx) => {
          ran.push(ctx.identity!)
          return { moves: [] }
        },
        { permission: 'move:read' },
      )
      .add(
        'role:maint,cmd:purge',
        (_m, ctx) => {
          ran.push(ctx.identity!)
          return { purged: true }
        },
        { permission: 'maint:purge' },
      )
    await stoa.ready()
  })

  afterEach(() => stoa.close())

  /** Acts with `token`; expects the refusal, that nothing ran, and that the service still serves. */
  async function refused(
    token: string,
    code: string,
    reason: string | undefined,
    pattern = 'role:move,cmd:list',
  ): Promise<StoaError> {
    const err = (await stoa.act(pattern, {}, { token }).catch((e: unknown) => e)) as StoaError
    expect(err, 'refused').to.be.instanceOf(StoaError)
    expect(err.code).to.equal(code)
    if (reason !== undefined) expect(err.details?.reason).to.equal(reason)
    expect(ran, 'the action did not run').to.have.length(0)
    // The library's wording never reaches the caller.
    expect(err.message).not.to.match(/jwt |expected|invalid signature|secretOrPublicKey/)
    const ok = signToken(
      { sub: 'u1', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    expect(await stoa.act('role:move,cmd:list', {}, { token: ok })).to.deep.equal({ moves: [] })
    ran = []
    return err
  }

  it('accepts a valid token and gives the action its identity', async () => {
    const token = signToken(
      { sub: 'u42', roles: ['user-mover'], name: 'Ada' },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    await stoa.act('role:move,cmd:list', {}, { token })
    expect(ran[0]!.sub).to.equal('u42')
    expect(ran[0]!.roles).to.deep.equal(['user-mover'])
    expect(ran[0]!.claims.name).to.equal('Ada')
  })

  it('alg none: refused', async () => {
    await refused(craft({ alg: 'none', typ: 'JWT' }, good(), undefined), 'UNAUTHENTICATED', 'algorithm')
  })

  it('alg "None" spelt otherwise: refused', async () => {
    await refused(craft({ alg: 'None' }, good(), undefined), 'UNAUTHENTICATED', 'algorithm')
  })

  it('HS256 signed with the RS256 public key as the secret: refused', async () => {
    // The service holds a secret too, so HS256 is allowed: the public key is still never the HMAC key.
    await refused(craft({ alg: 'HS256', typ: 'JWT' }, good(), hmac(rsa().publicPem)), 'UNAUTHENTICATED', 'signature')
  })

  it('HS256 signed with the RS256 public key, at a service holding only the public key: refused', async () => {
    const only = createStoa({ name: 'rs' })
      .use(jwt, { publicKey: rsa().publicPem })
      .use(authz, { roles: { 'user-mover': ['move:read'] } })
      .add('role:x', () => 'ran', { permission: 'move:read' })
    const err = (await only
      .act('role:x', {}, { token: craft({ alg: 'HS256' }, userClaims(), hmac(rsa().publicPem)) })
      .catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('UNAUTHENTICATED')
    expect(err.details?.reason).to.equal('algorithm')
    expect(
      await only.act('role:x', {}, { token: craft({ alg: 'RS256' }, userClaims(), rsaSign(rsa().privateKey)) }),
    ).to.equal('ran')
    await only.close()
  })

  it('RS256 signed with an attacker key: refused', async () => {
    await refused(craft({ alg: 'RS256' }, good(), rsaSign(attackerRsa().privateKey)), 'UNAUTHENTICATED', 'signature')
  })

  it('expired: refused', async () => {
    await refused(
      craft({ alg: 'HS256' }, good({ iat: nowSec() - 120, exp: nowSec() - 60 }), hmac(SECRET)),
      'UNAUTHENTICATED',
      'expired',
    )
  })

  it('not yet valid (nbf in the future): refused', async () => {
    await refused(
      craft({ alg: 'HS256' }, good({ nbf: nowSec() + 600 }), hmac(SECRET)),
      'UNAUTHENTICATED',
      'not-yet-valid',
    )
  })

  it('no exp at all: refused', async () => {
    const { exp: _exp, ...claims } = good()
    await refused(craft({ alg: 'HS256' }, claims, hmac(SECRET)), 'UNAUTHENTICATED', 'no-expiry')
  })

  it('wrong issuer: refused', async () => {
    await refused(
      craft({ alg: 'HS256' }, good({ iss: 'https://evil.test' }), hmac(SECRET)),
      'UNAUTHENTICATED',
      'issuer',
    )
  })

  it('wrong audience: refused', async () => {
    await refused(craft({ alg: 'HS256' }, good({ aud: 'something-else' }), hmac(SECRET)), 'UNAUTHENTICATED', 'audience')
  })

  it("a token for another service's audience: refused", async () => {
    const billing = signToken(
      { sub: 'u42', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'billing' },
    )
    await refused(billing, 'UNAUTHENTICATED', 'audience')
  })

  it('a token signed with another service key: refused', async () => {
    await refused(craft({ alg: 'HS256' }, good(), hmac(OTHER_SECRET)), 'UNAUTHENTICATED', 'signature')
  })

  it('a user token where the system identity is required: forbidden', async () => {
    const user = signToken(
      { sub: 'u42', roles: ['user-business'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    const err = await refused(user, 'FORBIDDEN', undefined, 'role:maint,cmd:purge')
    expect(err.details?.permission).to.equal('maint:purge')
    const system = signSystemToken({ secret: SYSTEM_SECRET, expiresInSec: 60 })
    expect(await stoa.act('role:maint,cmd:purge', {}, { token: system })).to.deep.equal({ purged: true })
    expect(ran[0]!.sub).to.equal('system')
  })

  it('a user token claiming the system role or subject: refused', async () => {
    await refused(
      craft({ alg: 'HS256' }, good({ roles: ['system'] }), hmac(SECRET)),
      'UNAUTHENTICATED',
      'type',
      'role:maint,cmd:purge',
    )
    await refused(
      craft({ alg: 'HS256' }, good({ sub: 'system' }), hmac(SECRET)),
      'UNAUTHENTICATED',
      'type',
      'role:maint,cmd:purge',
    )
  })

  it('a user token dressed as a system token (typ stoa-system+jwt, user key): refused', async () => {
    const token = craft(
      { alg: 'HS256', typ: 'stoa-system+jwt' },
      { sub: 'system', aud: 'stoa:system', exp: nowSec() + 60 },
      hmac(SECRET),
    )
    await refused(token, 'UNAUTHENTICATED', 'signature', 'role:maint,cmd:purge')
  })

  it('a system token stripped of its type, to pass as a user token: refused', async () => {
    const system = signSystemToken({ secret: SYSTEM_SECRET, expiresInSec: 60 })
    const [, payload, sig] = system.split('.')
    const retyped = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')}.${payload}.${sig}`
    await refused(retyped, 'UNAUTHENTICATED', undefined)
  })

  it('tampered payload (roles raised, signature kept): refused', async () => {
    const token = signToken(
      { sub: 'u42', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    const [header, payload, sig] = token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>
    claims.roles = ['user-business']
    await refused(
      `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`,
      'UNAUTHENTICATED',
      'signature',
    )
  })

  it('tampered signature: refused', async () => {
    const token = signToken(
      { sub: 'u42', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    const sig = Buffer.from(token.split('.')[2]!, 'base64url')
    sig[0] = sig[0]! ^ 0xff
    await refused(
      `${token.split('.').slice(0, 2).join('.')}.${sig.toString('base64url')}`,
      'UNAUTHENTICATED',
      'signature',
    )
  })

  it('a kid naming a file path or a URL: never read, never fetched, and the token refused', async () => {
    // Signed with the RSA key an attacker would hope to point at; the service only knows its own.
    await refused(
      craft({ alg: 'RS256', kid: '../../../../etc/passwd' }, good(), rsaSign(attackerRsa().privateKey)),
      'UNAUTHENTICATED',
      'signature',
    )
    await refused(
      craft({ alg: 'RS256', kid: 'https://evil.test/key.pem' }, good(), rsaSign(attackerRsa().privateKey)),
      'UNAUTHENTICATED',
      'signature',
    )
    await refused(craft({ alg: 'HS256', kid: '/dev/null' }, good(), hmac('')), 'UNAUTHENTICATED', 'signature')
  })

  it('a jku (or x5u, jwk, x5c) header pointing elsewhere: refused before any key is looked at', async () => {
    await refused(
      craft({ alg: 'RS256', jku: 'https://evil.test/jwks.json' }, good(), rsaSign(attackerRsa().privateKey)),
      'UNAUTHENTICATED',
      'key-source',
    )
    await refused(
      craft({ alg: 'RS256', x5u: 'https://evil.test/cert.pem' }, good(), rsaSign(attackerRsa().privateKey)),
      'UNAUTHENTICATED',
      'key-source',
    )
    const jwk = attackerRsa().publicKey.export({ format: 'jwk' })
    await refused(
      craft({ alg: 'RS256', jwk }, good(), rsaSign(attackerRsa().privateKey)),
      'UNAUTHENTICATED',
      'key-source',
    )
  })

  it('a huge token: refused on its size, before anything parses it', async () => {
    // Not even base64: were it parsed first, it would be "malformed".
    await refused('!'.repeat(100_000), 'UNAUTHENTICATED', 'too-large')
  })

  it('garbage: refused as malformed', async () => {
    await refused('not.a.token', 'UNAUTHENTICATED', 'malformed')
    await refused('abc', 'UNAUTHENTICATED', 'malformed')
  })

  it('roles smuggled in the message: ignored, the identity is the token', async () => {
    const token = signToken(
      { sub: 'u42', roles: ['user-mover'] },
      { secret: SECRET, expiresInSec: 60, issuer: ISSUER, audience: 'moves' },
    )
    const smuggled = {
      roles: ['system'],
      identity: { sub: 'system', roles: ['system'] },
      sub: 'system',
      user: { roles: ['system'] },
    }
    const err = (await stoa.act('role:maint,cmd:purge', smuggled, { token }).catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('FORBIDDEN')
    expect(ran).to.have.length(0)
    await stoa.act('role:move,cmd:list', smuggled, { token })
    expect(ran[0]!.sub).to.equal('u42')
    expect(ran[0]!.roles).to.deep.equal(['user-mover'])
  })

  it('no token: UNAUTHENTICATED, reason missing', async () => {
    const err = (await stoa.act('role:move,cmd:list').catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('UNAUTHENTICATED')
    expect(err.details?.reason).to.equal('missing')
    expect(ran).to.have.length(0)
  })
})
