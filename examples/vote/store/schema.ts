import type { MigrationStep } from 'stoa/postgres'

/**
 * The tally's schema, one step per version, applied by the postgres plugin when the tally
 * starts (under its advisory lock, checksummed: a released step is never edited, a change is a
 * new step). The same steps run on PostgreSQL and on PGlite. `IF NOT EXISTS`, so that a database
 * made by an earlier vote system (before the plugin) is adopted as it is.
 */
export const MIGRATIONS: readonly MigrationStep[] = [
  {
    version: 1,
    name: 'votes',
    sql: `
      -- Every distinct vote the gateways accepted, once: a redelivered task finds its vote id here.
      CREATE TABLE IF NOT EXISTS votes (
        vote_id uuid PRIMARY KEY,
        voter text NOT NULL,
        choice text NOT NULL CHECK (choice IN ('cats', 'dogs')),
        accepted_at bigint NOT NULL,          -- ms since the epoch, stamped by the gateway
        deliveries integer NOT NULL DEFAULT 1, -- how often the task arrived: > 1 is a redelivery
        recorded_at timestamptz NOT NULL DEFAULT now()
      );
      -- The one vote that counts per voter: the earliest accepted (then the smallest vote id).
      CREATE TABLE IF NOT EXISTS ballots (
        voter text PRIMARY KEY,
        vote_id uuid NOT NULL,
        choice text NOT NULL,
        accepted_at bigint NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ballots_choice ON ballots (choice);
    `,
  },
]
