import { signToken } from '../../plugins/jwt/index.js'

/** The HS256 secret the identity suite's servers verify with. */
export const SECRET = 'bench-secret-of-at-least-thirty-two-characters'

/** A client's token for the suite's routes, valid an hour. */
export function benchToken(): string {
  return signToken({ sub: 'u42', roles: ['user-client'] }, { secret: SECRET, expiresInSec: 3600, audience: 'bench' })
}
