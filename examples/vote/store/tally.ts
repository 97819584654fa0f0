import type { Sql } from 'stoa/postgres'

/** A vote as the gateway accepted it. */
export interface Vote {
  voteId: string
  voter: string
  choice: 'cats' | 'dogs'
  /** When the gateway accepted it, ms since the epoch. */
  acceptedAt: number
}

/**
 * What recording a vote did: `counted` (the voter's first), `replaced` (it was accepted before
 * the vote counted so far, which becomes a duplicate), `duplicate` (the voter has an earlier
 * one), or `redelivered` (this vote id was already recorded: nothing changes).
 */
export type Outcome = 'counted' | 'replaced' | 'duplicate' | 'redelivered'

/** The counts the results page shows. */
export interface Results {
  cats: number
  dogs: number
  total: number
  duplicates: number
}

/**
 * Records one vote inside the caller's transaction (the tally's, which also carries its
 * `vote.recorded` event to the outbox). The vote id decides whether it is new (a redelivered
 * task changes nothing but the delivery count); the voter's ballot keeps the vote with the
 * smallest (accepted time, vote id), so the outcome does not depend on the order tasks arrive
 * in, nor on which worker takes them. Two workers racing on one voter are serialised by the
 * ballot row's lock inside `INSERT ... ON CONFLICT DO UPDATE`, which re-checks its condition
 * against the committed row.
 */
export async function recordVote(tx: Sql, vote: Vote): Promise<Outcome> {
  const inserted = await tx.query<{ fresh: boolean }>(
    `INSERT INTO votes (vote_id, voter, choice, accepted_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (vote_id) DO UPDATE SET deliveries = votes.deliveries + 1
     RETURNING (xmax = 0) AS fresh`,
    [vote.voteId, vote.voter, vote.choice, vote.acceptedAt],
  )
  if (inserted.rows[0]?.fresh !== true) return 'redelivered'
  const ballot = await tx.query<{ fresh: boolean }>(
    `INSERT INTO ballots (voter, vote_id, choice, accepted_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (voter) DO UPDATE SET vote_id = EXCLUDED.vote_id, choice = EXCLUDED.choice, accepted_at = EXCLUDED.accepted_at
     WHERE (EXCLUDED.accepted_at, EXCLUDED.vote_id) < (ballots.accepted_at, ballots.vote_id)
     RETURNING (xmax = 0) AS fresh`,
    [vote.voter, vote.voteId, vote.choice, vote.acceptedAt],
  )
  if (ballot.rows.length === 0) return 'duplicate'
  return ballot.rows[0]!.fresh ? 'counted' : 'replaced'
}

/**
 * The counts: ballots per choice, and duplicates as every distinct vote recorded minus the
 * ballots. Counted on read rather than kept in a counter row, so that concurrent workers never
 * queue on one hot row.
 */
export async function readResults(sql: Sql): Promise<Results> {
  const { rows } = await sql.query<{ cats: string; dogs: string; votes: string }>(
    `SELECT (SELECT count(*) FROM ballots WHERE choice = 'cats') AS cats,
            (SELECT count(*) FROM ballots WHERE choice = 'dogs') AS dogs,
            (SELECT count(*) FROM votes) AS votes`,
  )
  const r = rows[0]!
  const cats = Number(r.cats)
  const dogs = Number(r.dogs)
  const total = cats + dogs
  return { cats, dogs, total, duplicates: Number(r.votes) - total }
}
