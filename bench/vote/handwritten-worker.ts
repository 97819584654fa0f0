import amqp from 'amqplib'
import pg from 'pg'
import { MIGRATIONS } from '../../examples/vote/store/schema.js'
import { recordVote } from '../../examples/vote/store/tally.js'

/**
 * The tally worker written by hand on amqplib + pg, with the stoa worker's guarantees and the
 * same SQL: prefetch 100, one transaction per vote, ack only after the commit, a malformed
 * vote rejected rather than retried forever. Env: AMQP_URL, VOTE_PREFIX, DATABASE_URL.
 */
const queue = `${process.env.VOTE_PREFIX}.tasks.tally`
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL!, max: 10 })
// The schema's steps say IF NOT EXISTS: running them again is harmless.
for (const step of MIGRATIONS) await pool.query(step.sql!)
/** One vote in one transaction, on a connection of its own. */
async function record(vote: Parameters<typeof recordVote>[1]): Promise<void> {
  const c = await pool.connect()
  try {
    await c.query('BEGIN')
    await recordVote(
      { query: (t, p) => c.query(t, p as unknown[]) as never, exec: async (t) => void (await c.query(t)) },
      vote,
    )
    await c.query('COMMIT')
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    c.release()
  }
}
const conn = await amqp.connect(process.env.AMQP_URL!)
const ch = await conn.createChannel()
await ch.assertQueue(queue, { durable: true })
await ch.prefetch(100)
await ch.consume(queue, (m) => {
  if (m === null) return
  let vote: { voteId: string; voter: string; choice: 'cats' | 'dogs'; acceptedAt: number }
  try {
    vote = JSON.parse(m.content.toString())
    if (
      typeof vote.voteId !== 'string' ||
      typeof vote.voter !== 'string' ||
      (vote.choice !== 'cats' && vote.choice !== 'dogs') ||
      !Number.isInteger(vote.acceptedAt)
    )
      throw new Error('bad vote')
  } catch {
    ch.nack(m, false, false)
    return
  }
  // A channel closed meanwhile (shutdown) takes the delivery back itself: nothing to answer.
  const settle = (fn: () => void) => {
    try {
      fn()
    } catch {
      // closed
    }
  }
  record(vote).then(
    () => settle(() => ch.ack(m)),
    () => setTimeout(() => settle(() => ch.nack(m, false, true)), 1000),
  )
})
process.stdout.write('tally listening\n')
process.once('SIGTERM', () => {
  void conn
    .close()
    .catch(() => undefined)
    .then(() => pool.end())
    .finally(() => process.exit(0))
})
