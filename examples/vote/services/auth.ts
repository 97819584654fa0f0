import { defineService } from 'stoa'
import { auth } from '../auth.js'
import { serviceFromEnvironment } from '../config.js'

/** The authentication service signing with `secret`. */
export function authService(secret: string) {
  return defineService({ name: 'auth', plugins: [[auth, { secret }]] })
}

/**
 * The authentication service with `JWT_SECRET` (shared with the gateways), as `stoa serve` runs
 * it; without `JWT_SECRET` it refuses to start.
 */
export default serviceFromEnvironment('auth', (config) => authService(config.jwtSecret))
