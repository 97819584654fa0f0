import { action, definePlugin } from 'stoa'
import { z } from 'zod'
import type { SharedStore } from './store/shared.js'
import { recordVote } from './store/tally.js'

/** A vote as the gateway sends it in the task `tally.vote.record`. */
export const voteTask = z.object({
  voteId: z.uuid(),
  voter: z.string().min(1).max(200),
  choice: z.enum(['cats', 'dogs']),
  acceptedAt: z.number().int().positive(),
})

/**
 * The tally worker: consumes `tally.vote.record` and keeps one vote per voter, the one the
 * gateways accepted first. Each task is one transaction; the transport acknowledges the task
 * only once the action resolved, i.e. after the commit, so a worker killed at any point leaves
 * either nothing (the task is redelivered and recorded then) or a committed vote (the
 * redelivery finds its vote id and changes nothing). Starting runs the migrations.
 *
 * @example
 * createStoa({ name: 'tally' }).use(tally, { store: new SharedStore(() => createPgStore(url)) })
 */
export const tally = definePlugin({
  name: 'tally',
  options: z.object({
    /** The database, opened (and migrated) when the service starts. */
    store: z.custom<SharedStore>((v) => v !== null && typeof v === 'object' && 'acquire' in v, 'must be a SharedStore'),
  }),
  init: async (_stoa, options) => {
    await options.store.acquire(true)
    return () => options.store.release()
  },
  actions: (options) => ({
    'task:tally.vote.record': action({
      schema: voteTask,
      description: 'records a vote: the first one accepted per voter counts, later ones are duplicates',
      handler: async (vote, ctx) => {
        const outcome = await recordVote(options.store.current(), {
          voteId: vote.voteId,
          voter: vote.voter,
          choice: vote.choice,
          acceptedAt: vote.acceptedAt,
        })
        if (outcome === 'redelivered') return
        // The vote is committed whatever happens next. Should the event fail to publish, the
        // task fails and is retried; the retry finds the vote recorded and changes nothing.
        await ctx.emit('vote.recorded', { voteId: vote.voteId, choice: vote.choice, outcome })
      },
    }),
  }),
})
