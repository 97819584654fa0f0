import { StoaError } from 'stoa'
import type { Store } from './db.js'

/**
 * The schema, one step per version, in order. A step is never edited once released: a change
 * is a new step. The same steps run on PostgreSQL and on PGlite.
 */
export const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      -- Every distinct vote the gateways accepted, once: a redelivered task finds its vote id here.
      CREATE TABLE votes (
        vote_id uuid PRIMARY KEY,
        voter text NOT NULL,
        choice text NOT NULL CHECK (choice IN ('cats', 'dogs')),
        accepted_at bigint NOT NULL,          -- ms since the epoch, stamped by the gateway
        deliveries integer NOT NULL DEFAULT 1, -- how often the task arrived: > 1 is a redelivery
        recorded_at timestamptz NOT NULL DEFAULT now()
      );
      -- The one vote that counts per voter: the earliest accepted (then the smallest vote id).
      CREATE TABLE ballots (
        voter text PRIMARY KEY,
        vote_id uuid NOT NULL,
        choice text NOT NULL,
        accepted_at bigint NOT NULL
      );
      CREATE INDEX ballots_choice ON ballots (choice);
      -- The embedded demo's durable hand-over: tasks written before their 202, drained at start.
      CREATE TABLE task_outbox (
        id text PRIMARY KEY,
        name text NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
]

/** Any constant: the key of the advisory lock every starting worker takes before migrating. */
const LOCK_KEY = 7_311_013

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version

/**
 * Brings the schema up to {@link SCHEMA_VERSION}. Workers starting together queue on a
 * transaction-scoped advisory lock, so exactly one applies each step and the others find it
 * done; each step commits with its version row, so a crash leaves no half-applied step. A
 * database at a version this code does not know (written by newer code) is refused: running
 * old SQL against a newer schema could count votes wrongly.
 *
 * @returns the versions applied now (empty when the schema was current)
 */
export async function migrate(store: Store): Promise<number[]> {
  return store.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_versions (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    )
    const { rows } = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_versions')
    const current = rows[0]?.v ?? 0
    if (current > SCHEMA_VERSION) {
      throw new StoaError(
        'INVALID_PLUGIN',
        `the database is at schema version ${current}, newer than this code knows (${SCHEMA_VERSION}): refusing to start`,
        {
          schemaVersion: current,
          known: SCHEMA_VERSION,
        },
      )
    }
    const applied: number[] = []
    for (const step of MIGRATIONS) {
      if (step.version <= current) continue
      await tx.exec(step.sql)
      await tx.query('INSERT INTO schema_versions (version) VALUES ($1)', [step.version])
      applied.push(step.version)
    }
    return applied
  })
}
