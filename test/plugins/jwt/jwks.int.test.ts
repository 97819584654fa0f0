import type { KeyObject } from 'node:crypto'
import { generateKeyPairSync } from 'node:crypto'
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, type StoaError } from '../../../actions/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import { attackerRsa, craft, rsaSign, userClaims } from '../../helpers/jwt.js'

/** A server on 127.0.0.1 counting its requests; answers with `body()` as JSON. */
async function serve(body: () => unknown): Promise<{ url: string; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = []
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '')
    const text = JSON.stringify(body())
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  }
}

function jwk(key: KeyObject, kid: string): Record<string, unknown> {
  return { ...key.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }
}

describe('jwt plugin with a JWKS URL (as Auth0, Cognito and Keycloak publish them)', () => {
  const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 })
  let published: Record<string, unknown>[]
  let idp: Awaited<ReturnType<typeof serve>>
  let evil: Awaited<ReturnType<typeof serve>>
  let stoa: Stoa

  before(async () => {
    published = [jwk(k1.publicKey, 'k1')]
    idp = await serve(() => ({ keys: published }))
    evil = await serve(() => ({ keys: [jwk(attackerRsa().publicKey, 'evil')] }))
    stoa = createStoa()
      .use(jwt, { jwksUri: `${idp.url}/.well-known/jwks.json`, jwksRefetchMs: 300, clockToleranceSec: 0 })
      .add('role:x', (_m, ctx) => ctx.identity!.sub)
  })

  after(async () => {
    await stoa.close()
    await idp.close()
    await evil.close()
  })

  const act = (token: string) =>
    stoa.act('role:x', {}, { token }).catch((e: StoaError) => `${e.code}:${String(e.details?.reason)}`)

  it('verifies a token by its kid, fetching the key set once', async () => {
    const t = signToken({ sub: 'a' }, { privateKey: k1.privateKey, expiresInSec: 60, keyId: 'k1' })
    expect(await act(t)).to.equal('a')
    expect(await act(signToken({ sub: 'b' }, { privateKey: k1.privateKey, expiresInSec: 60, keyId: 'k1' }))).to.equal(
      'b',
    )
    expect(idp.hits).to.deep.equal(['/.well-known/jwks.json'])
  })

  it('finds a rotated-in key by fetching again on its unknown kid', async () => {
    published = [jwk(k1.publicKey, 'k1'), jwk(k2.publicKey, 'k2')]
    await new Promise((r) => setTimeout(r, 350))
    expect(await act(signToken({ sub: 'c' }, { privateKey: k2.privateKey, expiresInSec: 60, keyId: 'k2' }))).to.equal(
      'c',
    )
    expect(idp.hits).to.have.length(2)
  })

  it('fetches at most once per interval however many unknown kids arrive', async () => {
    const before = idp.hits.length
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        act(craft({ alg: 'RS256', kid: `random-${i}` }, userClaims(), rsaSign(attackerRsa().privateKey))),
      ),
    )
    expect(new Set(results)).to.deep.equal(new Set(['UNAUTHENTICATED:unknown-key']))
    expect(idp.hits.length - before).to.be.at.most(1)
  })

  it('a kid naming a file path or a URL: never read, never fetched, refused', async () => {
    await new Promise((r) => setTimeout(r, 350))
    for (const kid of ['../../../../etc/passwd', '/dev/zero', `${evil.url}/key.pem`, `${evil.url}/jwks.json`]) {
      expect(await act(craft({ alg: 'RS256', kid }, userClaims(), rsaSign(attackerRsa().privateKey)))).to.equal(
        'UNAUTHENTICATED:unknown-key',
      )
    }
    expect(evil.hits).to.deep.equal([])
    expect(idp.hits.every((h) => h === '/.well-known/jwks.json')).to.equal(true)
  })

  it('a jku header pointing elsewhere: refused, and never fetched', async () => {
    const token = craft(
      { alg: 'RS256', kid: 'evil', jku: `${evil.url}/jwks.json` },
      userClaims(),
      rsaSign(attackerRsa().privateKey),
    )
    expect(await act(token)).to.equal('UNAUTHENTICATED:key-source')
    expect(evil.hits).to.deep.equal([])
    // And the service keeps serving.
    expect(await act(signToken({ sub: 'd' }, { privateKey: k1.privateKey, expiresInSec: 60, keyId: 'k1' }))).to.equal(
      'd',
    )
  })

  it('answers UNAVAILABLE (worth retrying), not 401, while the key set cannot be fetched', async () => {
    const down = createStoa()
      .use(jwt, { jwksUri: 'http://127.0.0.1:1/jwks.json', jwksTimeoutMs: 1000 })
      .add('role:x', () => 'ran')
    const err = (await down
      .act(
        'role:x',
        {},
        { token: signToken({ sub: 'a' }, { privateKey: k1.privateKey, expiresInSec: 60, keyId: 'k1' }) },
      )
      .catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('UNAVAILABLE')
    expect(err.message).not.to.match(/ECONNREFUSED/)
    await down.close()
  })
})
