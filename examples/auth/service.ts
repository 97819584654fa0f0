import { defineService } from 'stoa'
import authz from 'stoa/authz'
import jwt, { fromEnvironment } from 'stoa/jwt'
import web from 'stoa/web'
import { auth } from './auth.js'

/** JWT_SECRET, or a fixed secret for trying the example out (never deploy it). */
const secret = fromEnvironment().secret ?? 'development-only-secret-change-me-0123456789'

/**
 * The auth service as a module the `stoa` command runs, with a demo user `ada` (password
 * `correct horse battery staple`, hashed with scrypt). The signing secret comes from JWT_SECRET,
 * which the jwt plugin also verifies with:
 * `JWT_SECRET=... stoa act examples/auth/service.ts role:auth,cmd:login username=ada password=...`.
 */
export default defineService({
  name: 'auth',
  plugins: [
    [jwt, { secret }],
    [
      authz,
      {
        roles: {
          'user-mover': ['auth:whoami'],
          'user-client': ['auth:whoami'],
          'user-business': ['auth:whoami'],
          system: ['*'],
        },
      },
    ],
    [
      auth,
      {
        secret,
        users: {
          ada: {
            hash: 'scrypt$32768$8$1$gjuNfnnsLsIgVLi11B63WQ$RXskAZ75rti3URWmTbwVRGYKRwoQ9GigQ_yjgHdOpqE',
            roles: ['user-mover'],
          },
        },
      },
    ],
    [
      web,
      {
        routes: {
          'POST /login': 'role:auth,cmd:login',
          'POST /logout': 'role:auth,cmd:logout',
          'GET /me': 'role:auth,cmd:whoami',
        },
        cookie: {},
      },
    ],
  ],
})
