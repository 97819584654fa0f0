import { randomUUID } from 'node:crypto'
import { action, definePlugin } from 'stoa'
import type { PostgresHandle } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { z } from 'zod'
import { voteTask } from './tally.js'

/**
 * The vote gateway's action: `role:vote,cmd:cast` `{ choice }` for the verified voter (the jwt
 * plugin sets `ctx.identity`, the authz plugin requires `vote:cast`). It stamps the vote with
 * an id and the time it was accepted, sends the task `tally.vote.record`, and answers only once
 * the send is safe: on RabbitMQ, once the broker confirmed the persistent message; embedded,
 * where the postgres plugin is loaded before it, once the task is committed to that plugin's
 * outbox (its relay hands it over after the commit, and again after a crash). It writes no
 * vote rows of its own.
 */
export const voteGateway = definePlugin({
  name: 'vote',
  setup: () => {
    let outbox: PostgresHandle | undefined
    return {
      init: (stoa) => {
        if (stoa.hasPlugin('postgres')) outbox = stoa.handleOf(postgres)
      },
      actions: {
        'role:vote,cmd:cast': action({
          permission: 'vote:cast',
          description: "casts the caller's vote: 202 with its id once the task is safely queued",
          schema: z.object({ choice: z.enum(['cats', 'dogs']) }),
          result: z.object({ voteId: z.uuid(), acceptedAt: z.number().int().positive() }),
          sends: { 'tally.vote.record': voteTask },
          handler: async (msg, ctx) => {
            // authz let the call in: the identity is set.
            const voter = ctx.identity!.sub
            const vote = { voteId: randomUUID(), voter, choice: msg.choice, acceptedAt: Date.now() }
            if (outbox === undefined) await ctx.send('tally.vote.record', vote)
            else await outbox.transaction(ctx, (tx) => tx.send('tally.vote.record', vote))
            return { voteId: vote.voteId, acceptedAt: vote.acceptedAt }
          },
        }),
      },
    }
  },
})

/** The gateway's API routes (the web plugin's compact form), under `/api`. */
export const apiRoutes = {
  'POST /login': 'role:auth,cmd:login',
  'POST /votes': { pattern: 'role:vote,cmd:cast', status: 202 },
  'GET /results': 'role:results,cmd:get',
} as const

/**
 * The gateway's GraphQL endpoint, `POST /api/graphql`: the mutation `castVote(choice)` and the
 * query `results`, each calling the action its route calls, with the caller's token from the
 * Authorization header or the login cookie; and over WebSocket (graphql-ws) or server-sent
 * events (graphql-sse) on the same path the subscriptions `voteRecorded`, each vote committed
 * by any tally worker, and `resultsChanged`, the counts after each of them (as the results
 * page is pushed), on every gateway.
 */
export const apiGraphql = {
  path: '/api/graphql',
  queries: { results: 'role:results,cmd:get' },
  mutations: { castVote: 'role:vote,cmd:cast' },
  subscriptions: {
    voteRecorded: 'vote.recorded',
    resultsChanged: { event: 'vote.recorded', map: 'role:results,cmd:changed' },
  },
  cookie: {},
} as const

/**
 * The gateway's event streams, under `/api`: each `vote.recorded` (a vote committed by any
 * tally worker) pushed to the results pages as a server-sent event. Every gateway instance
 * hears every event (the web plugin subscribes with `{ each: 'instance' }`), so a page
 * connected to any of them sees every vote; the page then reads `GET /api/results`.
 */
export const apiStreams = { '/results/stream': 'vote.recorded' } as const

/** What each global role may do at the gateway (the authz plugin's map). */
export const gatewayRoles = { voter: ['vote:cast'] }
