import type { ServiceOptions } from 'stoa'
import { defineService } from 'stoa'
import authz from 'stoa/authz'
import contracts from 'stoa/contracts'
import graphql from 'stoa/graphql'
import jwt from 'stoa/jwt'
import type { PostgresOptions } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import type { RateLimitOptions } from 'stoa/ratelimit'
import ratelimit from 'stoa/ratelimit'
import web from 'stoa/web'
import { settings } from '../config.js'
import { apiGraphql, apiRoutes, apiStreams, gatewayRoles, voteGateway } from '../gateway.js'
import { votePages } from '../web/server.js'

/**
 * The vote gateway: verifies voters' tokens (the jwt plugin, HS256 with `secret`) from the
 * Authorization header or the login cookie (a cookie-borne POST must come from this origin),
 * requires `vote:cast` (authz: the role `voter`) and serves the API routes under `/api`. Login
 * and results are remote actions of the auth and results services: declared in `clients`, so
 * `stoa serve --amqp` (or `--nats`) reaches each on its own queue. The pages (`votePages`) are
 * served beside the API by `stoa serve --web`. With `outbox` (the
 * embedded demo: PGlite in a directory of its own) a vote is committed to the postgres plugin's
 * outbox before its 202. Votes are limited per voter and logins per client address
 * ({@link voteLimits}; `RATE_LIMITED`, 429), in this gateway's memory unless `limits.store`
 * names a Redis that every gateway shares (`REDIS_URL` under `stoa serve`).
 */
export function gatewayService(
  secret: string,
  before: ServiceOptions['plugins'] = [],
  outbox?: Omit<PostgresOptions, 'migrations'>,
  limits: RateLimitOptions = { limits: voteLimits },
) {
  return defineService({ name: 'vote', clients, plugins: gatewayPlugins(secret, before, outbox, limits) })
}

/** The services the gateway calls: login on auth, the counts on results. */
const clients = { auth: ['role:auth'], results: ['role:results'] }

/** The gateway's plugins, in order (see {@link gatewayService}). */
function gatewayPlugins(
  secret: string,
  before: ServiceOptions['plugins'] = [],
  outbox?: Omit<PostgresOptions, 'migrations'>,
  limits: RateLimitOptions = { limits: voteLimits },
) {
  return [
    ...before,
    [jwt, { secret }],
    // After jwt: a vote spends its verified voter's budget, and a forged token none.
    [ratelimit, limits],
    [authz, { roles: gatewayRoles }],
    ...(outbox === undefined ? [] : [[postgres, outbox] as const]),
    voteGateway,
    // The voting and results pages, and the security headers of every answer.
    votePages,
    [web, { prefix: '/api', routes: apiRoutes, streams: apiStreams, cookie: {} }],
    // POST /api/graphql: castVote and results, with the same identity, permission and limits.
    [graphql, apiGraphql],
    // GET /api/openapi.json and /api/asyncapi.json on the web routes, the reference page at /docs.
    [
      contracts,
      { openapiPath: '/api/openapi.json', asyncapiPath: '/api/asyncapi.json', prefix: 'vote', title: 'vote' },
    ],
  ] as const
}

/**
 * The vote gateway's budgets: a voter casts at most 20 votes in 10 s (a person changing their
 * mind is far below it, a script far above), and one client address logs in at most 60 times a
 * minute (a classroom behind one NAT fits; a name-guessing loop does not).
 */
export const voteLimits = {
  'role:vote,cmd:cast': { points: 20, durationSec: 10, by: 'identity' },
  'role:auth,cmd:login': { points: 60, durationSec: 60, by: 'address' },
} as const satisfies RateLimitOptions['limits']

/**
 * The gateway with `JWT_SECRET` (which the auth service must share: `npm run vote:cluster`
 * sets it for every process; or `JWT_SECRET_FILE`); without it, it refuses to start with `INVALID_CONFIG`.
 * `stoa serve examples/vote/services/gateway.ts --amqp <url> --web 127.0.0.1:3000` runs it
 * with its pages.
 */
export default defineService({
  name: 'vote',
  clients,
  config: { JWT_SECRET: settings.JWT_SECRET, REDIS_URL: settings.REDIS_URL },
  // With REDIS_URL every gateway spends one budget per voter and per address, wherever nginx
  // sends each request.
  plugins: (config) =>
    gatewayPlugins(config.JWT_SECRET, [], undefined, {
      limits: voteLimits,
      store: config.REDIS_URL === undefined ? 'memory' : { redis: config.REDIS_URL, prefix: 'vote:ratelimit' },
    }),
})
