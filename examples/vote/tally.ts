import { action, definePlugin } from 'stoa'
import type { PostgresHandle } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { z } from 'zod'
import { recordVote } from './store/tally.js'

/** A vote as the gateway sends it in the task `tally.vote.record`. */
export const voteTask = z.object({
  voteId: z.uuid(),
  voter: z.string().min(1).max(200),
  choice: z.enum(['cats', 'dogs']),
  acceptedAt: z.number().int().positive(),
})

/** What `vote.recorded` carries: what became of a vote: counted, replaced (an earlier-accepted one came late) or a duplicate. */
export const voteRecorded = z.object({
  voteId: z.uuid(),
  choice: z.enum(['cats', 'dogs']),
  outcome: z.enum(['counted', 'replaced', 'duplicate']),
})

/**
 * The tally worker: consumes `tally.vote.record` and keeps one vote per voter, the one the
 * gateways accepted first. Load it after the postgres plugin (`stoa/postgres`, with the tally's
 * migrations, `store/schema.ts`), whose database it writes. Each task is one transaction of that plugin:
 * the vote's rows and its `vote.recorded` event (written to the outbox, published by the relay
 * after the commit) commit together or not at all, and the transport acknowledges the task only
 * once the action resolved, i.e. after the commit. A worker killed at any point leaves either
 * nothing (the task is redelivered and recorded then) or a committed vote with its event (the
 * redelivery finds its vote id, changes nothing and emits nothing). While the database is away
 * the postgres plugin holds the worker's intake: not ready, tasks left in their queue uncounted.
 *
 * @example
 * createStoa({ name: 'tally' }).use(postgres, { url, migrations: [...MIGRATIONS] }).use(tally)
 */
export const tally = definePlugin({
  name: 'tally',
  setup: () => {
    let db: PostgresHandle | undefined
    return {
      init: (stoa) => {
        db = stoa.handleOf(postgres)
      },
      actions: {
        'task:tally.vote.record': action({
          schema: voteTask,
          emits: { 'vote.recorded': voteRecorded },
          description: 'records a vote: the first one accepted per voter counts, later ones are duplicates',
          handler: (vote, ctx) =>
            db!.transaction(ctx, async (tx) => {
              const outcome = await recordVote(tx, vote)
              // A redelivery of a committed vote: its event is already in the outbox (or out).
              if (outcome === 'redelivered') return
              await tx.emit('vote.recorded', { voteId: vote.voteId, choice: vote.choice, outcome })
            }),
        }),
      },
    }
  },
})
