import { z } from 'zod'
import type { OpenPglite, Sql } from './db.js'

/** A migration step written in code: SQL, or a function of the transaction. */
export const migrationStep = z.object({
  /** Its place in the order: a whole number above 0, each used once. */
  version: z.number().int().min(1),
  /** A short name, for `stoa migrate status` and the errors. */
  name: z.string().min(1),
  /** The SQL it runs (several statements, no parameters). Give this or `up`. */
  sql: z.string().optional(),
  /** What it does, for a step that SQL alone cannot say. Give this or `sql`. */
  up: z.custom<(tx: Sql) => Promise<void>>((v) => typeof v === 'function', 'must be a function').optional(),
  /**
   * What the step is recorded with, to notice an edit: the SHA-256 of `sql` by default, of the
   * function's source for `up`. Give one to make a reformatted `up` the same step.
   */
  checksum: z.string().min(1).optional(),
})

/** Options of the postgres plugin. */
export const postgresOptions = z.strictObject({
  /**
   * `postgres://user:pass@host:port/db`: the service's PostgreSQL, through `pg`. Default
   * `DATABASE_URL`; with neither, the database is PGlite in `dataDir`.
   */
  url: z.string().min(1).optional(),
  /** PGlite's directory (created when missing); `memory://` keeps nothing. Default `.stoa/<service>`. */
  dataDir: z.string().min(1).optional(),
  /**
   * A PGlite its owner opened, used instead of `url` and `dataDir`: one database that several
   * instances of a test share, or one made with extensions. The plugin never closes it.
   */
  pglite: z
    .custom<OpenPglite>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as OpenPglite).query === 'function' &&
        typeof (v as OpenPglite).transaction === 'function',
      'must be an open PGlite',
    )
    .optional(),
  /** Connections in the pool (PostgreSQL). */
  poolSize: z.number().int().min(1).max(1000).default(10),
  /** How long a new connection may take before the database counts as unreachable, ms. */
  connectTimeoutMs: z.number().int().min(1).default(5000),
  /** How often a database that went away is tried again, ms. */
  probeMs: z.number().int().min(10).default(500),
  /**
   * The service's schema: a folder of numbered SQL files (`001_votes.sql`, `002_index.sql`,
   * relative to the working directory or absolute), or steps in code. Applied at start.
   */
  migrations: z.union([z.string().min(1), z.array(migrationStep)]).optional(),
  /** How often a transaction that lost a race (serialization failure, deadlock) is run again. */
  conflictRetries: z.number().int().min(0).max(20).default(3),
  relay: z
    .strictObject({
      /** Start with the relay paused (a test's hook; `handle.relay.resume()` starts it). */
      paused: z.boolean().default(false),
      /** Looks for rows nobody announced (another instance's, a crashed relay's), ms. */
      sweepMs: z.number().int().min(10).default(1000),
      /** Rows claimed and published at once. */
      batch: z.number().int().min(1).max(10_000).default(100),
      /** How long a claimed row is this relay's before another may publish it, ms. */
      leaseMs: z.number().int().min(100).default(10_000),
      /** The longest wait before a row whose publish failed is tried again, ms. */
      maxBackoffMs: z.number().int().min(10).default(30_000),
    })
    .prefault({}),
  inbox: z
    .strictObject({
      /** How long a key is remembered: a repeat after that runs again. Default 7 days. */
      retentionMs: z
        .number()
        .int()
        .min(60_000)
        .default(7 * 24 * 3600_000),
      /** How often expired keys are deleted, ms. */
      sweepMs: z.number().int().min(1000).default(3600_000),
    })
    .prefault({}),
})

/** Options of the postgres plugin as `use(postgres, options)` takes them. */
export type PostgresOptions = z.input<typeof postgresOptions>

/** The options once validated, defaults filled in. */
export type ResolvedPostgresOptions = Readonly<z.output<typeof postgresOptions>>

/** A migration step in code, as the `migrations` option takes it. */
export type MigrationStep = z.input<typeof migrationStep>

/**
 * The environment fallback, read here and nowhere else: `DATABASE_URL` supplies `url` when the
 * options give none.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): { url?: string } {
  const url = env.DATABASE_URL
  return url !== undefined && url !== '' ? { url } : {}
}
