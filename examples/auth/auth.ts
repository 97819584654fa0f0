import { action, definePlugin, StoaError } from 'stoa'
import { signToken } from 'stoa/jwt'
import { clearTokenCookie, tokenCookie } from 'stoa/web'
import { z } from 'zod'
import { checkPassword, hashPassword } from './passwords.js'

/**
 * A hash checked for an unknown user too, so the time taken does not tell which usernames
 * exist. Made on the first login that needs it, not when the module loads.
 */
let noSuchUser: Promise<string> | undefined

/**
 * The authentication service: checks a username and password against scrypt hashes, signs a
 * token carrying the user's global roles, emits `user.authed`, and sets the login cookie for
 * every subdomain of `cookieDomain`. Other services verify the token with the jwt plugin, keyed
 * with the same secret (or, with a key pair, the public half).
 */
export const auth = definePlugin({
  name: 'auth',
  options: z.object({
    secret: z.string().min(32), // signs user tokens; services verify them with it (JWT_SECRET)
    issuer: z.string().default('stoa-auth'), // the tokens' iss
    audience: z.array(z.string()).default(['gateway']), // the services the tokens are meant for
    expiresInSec: z
      .number()
      .int()
      .min(60)
      .max(24 * 3600)
      .default(3600), // token and cookie lifetime
    cookieDomain: z.string().optional(), // parent domain: the cookie reaches every subdomain
    users: z.record(z.string(), z.object({ hash: z.string(), roles: z.array(z.string()) })), // by username
  }),
  actions: (o) => ({
    'role:auth,cmd:login': action({
      public: true,
      description: 'checks a password, answers a token and sets the login cookie',
      schema: z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1024) }),
      handler: async (msg, ctx) => {
        const user = Object.hasOwn(o.users, msg.username) ? o.users[msg.username] : undefined
        const matches = await checkPassword(
          msg.password,
          user?.hash ?? (await (noSuchUser ??= hashPassword('no such user'))),
        )
        if (user === undefined || !matches)
          throw new StoaError('UNAUTHENTICATED', 'wrong username or password', { reason: 'credentials' })
        const token = signToken(
          { sub: msg.username, roles: user.roles },
          { secret: o.secret, expiresInSec: o.expiresInSec, issuer: o.issuer, audience: [...o.audience] },
        )
        // The event travels with the new token, so subscribers run as the user who logged in.
        await ctx.emit('user.authed', { sub: msg.username, roles: user.roles }, { token })
        const cookie = tokenCookie(token, {
          maxAgeSec: o.expiresInSec,
          ...(o.cookieDomain === undefined ? {} : { domain: o.cookieDomain }),
        })
        return {
          sub: msg.username,
          roles: user.roles,
          token,
          expiresInSec: o.expiresInSec,
          http$: { headers: { 'set-cookie': cookie } },
        }
      },
    }),
    'role:auth,cmd:logout': action({
      public: true,
      description: 'clears the login cookie',
      handler: () => ({
        http$: {
          status: 204,
          headers: { 'set-cookie': clearTokenCookie(o.cookieDomain === undefined ? {} : { domain: o.cookieDomain }) },
        },
      }),
    }),
    'role:auth,cmd:whoami': action({
      permission: 'auth:whoami',
      description: 'who the token says the caller is',
      handler: (_msg, ctx) => ({ sub: ctx.identity!.sub, roles: ctx.identity!.roles }),
    }),
  }),
})
