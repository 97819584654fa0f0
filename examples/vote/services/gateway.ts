import type { ServiceOptions } from 'stoa'
import { defineService } from 'stoa'
import jwt from 'stoa/jwt'
import web from 'stoa/web'
import { fromEnvironment } from '../config.js'
import { apiRoutes, voteGateway } from '../gateway.js'

/**
 * The vote gateway: verifies voters' tokens (the jwt plugin, HS256 with `secret`) and serves the API routes under `/api`. Login and results are remote actions of the
 * auth and results services, reached through the client transports the runner gives it.
 */
export function gatewayService(secret: string, before: ServiceOptions['plugins'] = []) {
  return defineService({
    name: 'vote',
    plugins: [...before, [jwt, { secret }], voteGateway, [web, { prefix: '/api', routes: apiRoutes }]],
  })
}

/**
 * The gateway with `JWT_SECRET` (which the auth service must share: `npm run vote:cluster`
 * sets it for every process). `examples/vote/gateway-server.ts` runs it with its pages.
 */
export default gatewayService(fromEnvironment().jwtSecret)
