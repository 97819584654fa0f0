import { action, definePlugin, StoaError } from 'stoa'
import { z } from 'zod'
import type { SharedStore } from './store/shared.js'
import type { Outcome } from './store/tally.js'
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
 * gateways accepted first. Each task is one transaction; the transport acknowledges the task
 * only once the action resolved, i.e. after the commit, so a worker killed at any point leaves
 * either nothing (the task is redelivered and recorded then) or a committed vote (the
 * redelivery finds its vote id and changes nothing). Starting runs the migrations. While the
 * database is away the worker reports not ready (check `tally-db`) and leaves the tasks in their
 * queue, not counted as tries, until the store finds the database again by itself.
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
  init: async (stoa, options) => {
    const store = await options.store.acquire(true)
    stoa.addCheck('tally-db', () => {
      const outage = store.outage()
      if (outage !== undefined) throw new Error(outage)
    })
    return () => options.store.release()
  },
  actions: (options) => ({
    'task:tally.vote.record': action({
      schema: voteTask,
      emits: { 'vote.recorded': voteRecorded },
      description: 'records a vote: the first one accepted per voter counts, later ones are duplicates',
      handler: async (vote, ctx) => {
        const store = options.store.current()
        let outcome: Outcome
        try {
          outcome = await recordVote(store, {
            voteId: vote.voteId,
            voter: vote.voter,
            choice: vote.choice,
            acceptedAt: vote.acceptedAt,
          })
        } catch (err) {
          const outage = store.outage()
          if (outage === undefined) throw err
          throw databaseAway(err)
        }
        if (outcome === 'redelivered') return
        // The vote is committed whatever happens next. Should the event fail to publish, the
        // task fails and is retried; the retry finds the vote recorded and changes nothing.
        await ctx.emit('vote.recorded', { voteId: vote.voteId, choice: vote.choice, outcome })
      },
    }),
  }),
})

/** How long a worker whose database is away stops taking tasks before it tries again, ms. */
const AWAY_RETRY_MS = 1000

/**
 * The refusal of a task while the database is away. Failing the task would spend one of its
 * tries, and an outage longer than the retry budget would send every vote in flight to the
 * dead-letter queue. The transports' bulkhead contract does what an outage needs instead: an
 * `OVERLOADED` naming its `bulkhead` returns the task to its queue, not counted as a try, and
 * the worker stops taking deliveries for `retryAfterMs` (docs/operations.md, Bulkheads). The
 * database is this worker's one compartment, with no room while it is away.
 */
function databaseAway(cause: unknown): StoaError {
  return new StoaError(
    'OVERLOADED',
    'the vote database is unreachable: the task waits in its queue',
    { bulkhead: 'tally-db', retryAfterMs: AWAY_RETRY_MS },
    { cause },
  )
}
