import type { KeyObject } from 'node:crypto'
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto'

/** The HS256 secret the identity tests share. */
export const SECRET = 'test-secret-of-forty-characters-0123456'
/** Another service's secret: tokens it signs must not pass here. */
export const OTHER_SECRET = 'other-secret-of-forty-characters-987654'
/** The system key of the tests (distinct from the user key, as in production). */
export const SYSTEM_SECRET = 'system-secret-of-forty-characters-abcdef'
/** The delegation key of the tests. */
export const DELEGATION_SECRET = 'delegation-secret-forty-characters-ghijk'

/** An RSA key pair, made once per run. */
export const rsa = lazyPair('rsa')
/** An attacker's RSA key pair. */
export const attackerRsa = lazyPair('rsa')

function lazyPair(
  type: 'rsa',
): () => { publicKey: KeyObject; privateKey: KeyObject; publicPem: string; privatePem: string } {
  let pair: ReturnType<ReturnType<typeof lazyPair>> | undefined
  return () => {
    if (pair === undefined) {
      const { publicKey, privateKey } = generateKeyPairSync(type, { modulusLength: 2048 })
      pair = {
        publicKey,
        privateKey,
        publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }
    }
    return pair
  }
}

/** Seconds since the epoch. */
export function nowSec(): number {
  return Math.floor(Date.now() / 1000)
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/**
 * A token made by hand, header and all, the way an attacker makes one: signed with `sign`
 * over `header.payload` (HMAC or RSA), or unsigned.
 */
export function craft(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  sign: ((input: string) => Buffer) | undefined,
): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${sign === undefined ? '' : sign(input).toString('base64url')}`
}

/** An HMAC-SHA256 signer with any key material (a secret, or a public key's PEM text). */
export function hmac(key: string): (input: string) => Buffer {
  return (input) => createHmac('sha256', key).update(input).digest()
}

/** An RSA-SHA256 signer. */
export function rsaSign(key: KeyObject): (input: string) => Buffer {
  return (input) => createSign('RSA-SHA256').update(input).sign(key)
}

/** A valid user token's claims: a mover, for an hour. */
export function userClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'u42', roles: ['user-mover'], iat: nowSec(), exp: nowSec() + 3600, ...extra }
}
