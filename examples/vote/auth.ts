import { action, definePlugin } from 'stoa'
import { signToken } from 'stoa/jwt'
import { tokenCookie } from 'stoa/web'
import { z } from 'zod'

/**
 * The demo's authentication service: `role:auth,cmd:login` takes a voter's `name` (no password:
 * these are demo voters) and answers a JWT `{ sub, roles: ['voter'], exp }` signed HS256 with
 * the shared secret, also set as the login cookie, and emits `user.authed`. Gateways verify it
 * with the jwt plugin; any token signed elsewhere with the same secret and claims works too.
 */
export const auth = definePlugin({
  name: 'auth',
  options: z.object({
    /** The HS256 secret shared with the gateways (JWT_SECRET), at least 32 characters. */
    secret: z.string().min(32),
    /** How long a voter's token lives, seconds: 1 hour. */
    expiresInSec: z.number().int().min(60).default(3600),
    /** Mark the login cookie `Secure`: on behind HTTPS; the demo serves plain HTTP on loopback. */
    secureCookie: z.boolean().default(false),
  }),
  actions: (options) => ({
    'role:auth,cmd:login': action({
      public: true,
      description: 'logs a demo voter in by name: a token, also set as the login cookie',
      // The http$ key is the web pipeline's (the cookie header); it is taken off the body.
      result: z.object({ token: z.string(), sub: z.string(), expiresInSec: z.number().int() }),
      emits: { 'user.authed': z.object({ sub: z.string() }) },
      schema: z.object({
        name: z
          .string()
          .trim()
          .min(1)
          .max(40)
          .regex(/^[\p{L}\p{N} ._-]+$/u, 'letters, digits, spaces, dots, dashes and underscores'),
      }),
      handler: async (msg, ctx) => {
        const sub = msg.name.toLowerCase()
        const token = signToken(
          { sub, roles: ['voter'] },
          { secret: options.secret, expiresInSec: options.expiresInSec },
        )
        await ctx.emit('user.authed', { sub })
        const cookie = tokenCookie(token, { maxAgeSec: options.expiresInSec, secure: options.secureCookie })
        return { token, sub, expiresInSec: options.expiresInSec, http$: { headers: { 'set-cookie': cookie } } }
      },
    }),
  }),
})
