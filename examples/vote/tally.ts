import { batchAction, definePlugin } from 'stoa'
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
 * How the tally takes its tasks: up to 100 votes per transaction, a lone vote waiting at most
 * 10 ms for company. The broker's prefetch (100 by default) bounds what one worker holds, so a
 * batch is full only under load; when votes trickle in, each waits its 10 ms.
 */
export const TALLY_BATCH = { max: 100, waitMs: 10 } as const

/**
 * The tally's options: `batchMax`, the most votes one transaction takes (default
 * {@link TALLY_BATCH}'s 100); 1 commits each vote alone, as a worker without batches would
 * (what `npm run bench -- scale` compares against).
 */
export const tallyOptions = z.object({
  batchMax: z.number().int().min(1).max(1000).default(TALLY_BATCH.max),
})

/**
 * The tally worker: consumes `tally.vote.record` and keeps one vote per voter, the one the
 * gateways accepted first. Load it after the postgres plugin (`stoa/postgres`, with the tally's
 * migrations, `store/schema.ts`), whose database it writes. The votes come in batches
 * ({@link TALLY_BATCH}), each batch one transaction of that plugin: the votes' rows and their
 * `vote.recorded` events (written to the outbox, published by the relay after the commit)
 * commit together or not at all, and the transport acknowledges the batch's tasks only once the
 * action resolved, i.e. after the commit. A worker killed at any point leaves either nothing
 * (the tasks are redelivered and recorded then) or committed votes with their events (the
 * redelivery finds its vote id, changes nothing and emits nothing). A vote that makes its batch
 * fail is split off (the batch is bisected) and retried alone while the others commit. While
 * the database is away the postgres plugin holds the worker's intake: not ready, tasks left in
 * their queue uncounted.
 *
 * @example
 * createStoa({ name: 'tally' }).use(postgres, { url, migrations: [...MIGRATIONS] }).use(tally)
 */
export const tally = definePlugin({
  name: 'tally',
  options: tallyOptions,
  setup: (options) => {
    let db: PostgresHandle | undefined
    return {
      init: (stoa) => {
        db = stoa.handleOf(postgres)
      },
      actions: {
        'task:tally.vote.record': batchAction({
          schema: voteTask,
          emits: { 'vote.recorded': voteRecorded },
          description: 'records a vote: the first one accepted per voter counts, later ones are duplicates',
          batch: { max: options.batchMax, waitMs: options.batchMax === 1 ? 0 : TALLY_BATCH.waitMs },
          handler: (items) =>
            db!.transaction(items[0]!.ctx, async (tx) => {
              // In (voter, vote id) order: two workers' batches then lock the same rows in the
              // same order, and never deadlock on each other's ballots.
              const ordered = [...items].sort((a, b) => compare(a.msg, b.msg))
              for (const { msg: vote, ctx } of ordered) {
                const outcome = await recordVote(tx, vote)
                // A redelivery of a committed vote: its event is already in the outbox (or out).
                if (outcome === 'redelivered') continue
                await tx.of(ctx).emit('vote.recorded', { voteId: vote.voteId, choice: vote.choice, outcome })
              }
            }),
        }),
      },
    }
  },
})

function compare(a: { voter: string; voteId: string }, b: { voter: string; voteId: string }): number {
  if (a.voter !== b.voter) return a.voter < b.voter ? -1 : 1
  return a.voteId < b.voteId ? -1 : a.voteId > b.voteId ? 1 : 0
}
