import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt's cost parameters: N (CPU and memory), r (block size), p (parallelism); OWASP's minimum. */
const N = 1 << 15
const R = 8
const P = 1
const KEY_BYTES = 32
/** scrypt needs 128 * N * r bytes; node's default ceiling (32 MiB) is just short of N = 2^15. */
const MAX_MEM = 64 * 1024 * 1024

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, { N: n, r, p, maxmem: MAX_MEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  )
}

/**
 * Hashes a password with scrypt and a random salt, as `scrypt$N$r$p$salt$hash` (base64url), so
 * the parameters can be raised later without invalidating stored hashes.
 *
 * @example
 * const stored = await hashPassword('correct horse battery staple')
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, N, R, P)
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/**
 * Whether `password` matches a hash made by {@link hashPassword}, compared in constant time.
 * A malformed hash never matches.
 *
 * @example
 * if (!(await checkPassword(given, stored))) throw new StoaError('UNAUTHENTICATED', 'wrong username or password')
 */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false
  const expected = Buffer.from(hash, 'base64url')
  const key = await derive(password, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p))
  return expected.length === key.length && timingSafeEqual(expected, key)
}
