// The stoa contestant: a service with one web route, exported as a Lambda handler, in plain
// JavaScript on the built library, so the figures are stoa's and not a compiler's.
import { defineService, definePlugin } from '../../dist/actions/index.js'
import web from '../../dist/plugins/web/index.js'
import { lambdaHandler } from '../../dist/transports/lambda/index.js'

const votes = definePlugin({
  name: 'votes',
  actions: { 'role:vote,cmd:cast': (msg) => ({ accepted: true, id: msg.id, choice: msg.choice }) },
})

const service = defineService({
  name: 'votes',
  plugins: [votes, [web, { routes: { 'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 } } }]],
})

export const handler = lambdaHandler(service)
