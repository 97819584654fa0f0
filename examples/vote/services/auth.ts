import { defineService } from 'stoa'
import { auth } from '../auth.js'
import { settings } from '../config.js'

/** The authentication service signing with `secret`. */
export function authService(secret: string) {
  return defineService({ name: 'auth', plugins: [[auth, { secret }]] })
}

/**
 * The authentication service with `JWT_SECRET` (shared with the gateways; or `JWT_SECRET_FILE`),
 * as `stoa serve` runs it; without it, it refuses to start with `INVALID_CONFIG`.
 */
export default defineService({
  name: 'auth',
  config: { JWT_SECRET: settings.JWT_SECRET },
  plugins: (config) => [[auth, { secret: config.JWT_SECRET }]],
})
