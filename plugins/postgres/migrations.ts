import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { StoaError } from '../../actions/index.js'
import type { Database, Sql } from './db.js'
import type { MigrationStep } from './options.js'

/** One step as the runner holds it: ordered, named, with what it is recorded by. */
export interface Step {
  readonly version: number
  readonly name: string
  readonly checksum: string
  run(tx: Sql): Promise<void>
}

/** What `stoa migrate status` prints: where the database is, and where the code is. */
export interface MigrationStatus {
  /** The newest version applied to the database (0: none). */
  readonly current: number
  /** The newest version the code knows (0: none). */
  readonly known: number
  readonly applied: readonly { version: number; name: string; appliedAt: string }[]
  readonly pending: readonly { version: number; name: string }[]
  /** Why the service would refuse to start: an edited step, a version the code does not know. */
  readonly problems: readonly string[]
}

/**
 * Any constant: the key of the transaction-scoped advisory lock every starting instance takes
 * before it migrates, so that instances starting together apply each step once.
 */
const LOCK_KEY = 7_311_022

/**
 * The plugin's own tables, made before the service's steps in the same transaction: the
 * outbox (messages waiting for the relay), the inbox (keys of idempotent actions already
 * done) and the record of applied steps. The inbox's expiry sweep finds old keys through a BRIN
 * index on `created_at` (keys go in in time order): a key costs it next to nothing, where a
 * btree (which the first versions made, and which is dropped) cost an index insert per call.
 */
const OWN_TABLES = `
  CREATE TABLE IF NOT EXISTS stoa_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS stoa_outbox (
    seq bigserial PRIMARY KEY,
    id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('send', 'emit')),
    name text NOT NULL,
    data jsonb NOT NULL,
    meta jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text
  );
  CREATE INDEX IF NOT EXISTS stoa_outbox_available ON stoa_outbox (available_at, seq);
  CREATE TABLE IF NOT EXISTS stoa_inbox (
    key text PRIMARY KEY,
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  DROP INDEX IF EXISTS stoa_inbox_created;
  CREATE INDEX IF NOT EXISTS stoa_inbox_created_brin ON stoa_inbox USING brin (created_at);
`

/**
 * The steps of the `migrations` option, checked and ordered: from a folder of numbered SQL
 * files (`001_votes.sql`: the leading number is the version, the rest the name), or from steps
 * in code. Two steps with one version, or a file in the folder that is not `<number>_<name>.sql`,
 * are refused: a step that is silently skipped is a schema nobody knows.
 */
export function loadSteps(source: string | readonly MigrationStep[] | undefined, cwd: string): Step[] {
  if (source === undefined) return []
  const steps: Step[] = []
  if (typeof source === 'string') {
    const dir = isAbsolute(source) ? source : resolve(cwd, source)
    let files: string[]
    try {
      files = readdirSync(dir)
    } catch (err) {
      throw new StoaError(
        'INVALID_OPTIONS',
        `plugin "postgres": option "migrations": no folder ${dir}`,
        {
          plugin: 'postgres',
          fields: ['migrations'],
        },
        { cause: err },
      )
    }
    for (const file of files.filter((f) => f.endsWith('.sql'))) {
      const m = /^(\d+)[_-](.+)\.sql$/.exec(file)
      if (m === null) {
        throw new StoaError(
          'INVALID_OPTIONS',
          `plugin "postgres": migration file "${file}" must be named <number>_<name>.sql`,
          { plugin: 'postgres', fields: ['migrations'], file },
        )
      }
      const sql = readFileSync(join(dir, file), 'utf8')
      steps.push(sqlStep(Number(m[1]), m[2]!, sql, undefined))
    }
  } else {
    for (const s of source) {
      if ((s.sql === undefined) === (s.up === undefined)) {
        throw new StoaError('INVALID_OPTIONS', `plugin "postgres": migration ${s.version} needs one of sql or up`, {
          plugin: 'postgres',
          fields: ['migrations'],
        })
      }
      if (s.sql !== undefined) steps.push(sqlStep(s.version, s.name, s.sql, s.checksum))
      else {
        const up = s.up!
        steps.push({ version: s.version, name: s.name, checksum: s.checksum ?? sha256(up.toString()), run: up })
      }
    }
  }
  steps.sort((a, b) => a.version - b.version)
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]!.version === steps[i - 1]!.version) {
      throw new StoaError('INVALID_OPTIONS', `plugin "postgres": two migrations have version ${steps[i]!.version}`, {
        plugin: 'postgres',
        fields: ['migrations'],
        version: steps[i]!.version,
      })
    }
  }
  return steps
}

function sqlStep(version: number, name: string, sql: string, checksum: string | undefined): Step {
  return { version, name, checksum: checksum ?? sha256(sql), run: (tx) => tx.exec(sql) }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

interface AppliedRow extends Record<string, unknown> {
  version: number
  name: string
  checksum: string
  applied_at: Date | string
}

/** What is wrong between the applied steps and the code's: each a sentence. */
function problemsOf(applied: readonly AppliedRow[], steps: readonly Step[]): string[] {
  const known = new Map(steps.map((s) => [s.version, s]))
  const out: string[] = []
  for (const row of applied) {
    const step = known.get(row.version)
    if (step === undefined) {
      out.push(
        `the database has migration ${row.version} (${row.name}), which this code does not know: it was written by other (newer?) code`,
      )
    } else if (step.checksum !== row.checksum) {
      out.push(
        `migration ${row.version} (${row.name}) was edited after it was applied: a released step is never changed, a change is a new step`,
      )
    }
  }
  return out
}

function statusOf(applied: readonly AppliedRow[], steps: readonly Step[]): MigrationStatus {
  const done = new Set(applied.map((r) => r.version))
  return {
    current: applied.reduce((m, r) => Math.max(m, r.version), 0),
    known: steps.at(-1)?.version ?? 0,
    applied: applied.map((r) => ({
      version: r.version,
      name: r.name,
      appliedAt: r.applied_at instanceof Date ? r.applied_at.toISOString() : String(r.applied_at),
    })),
    pending: steps.filter((s) => !done.has(s.version)).map((s) => ({ version: s.version, name: s.name })),
    problems: problemsOf(applied, steps),
  }
}

const SELECT_APPLIED = 'SELECT version, name, checksum, applied_at FROM stoa_migrations ORDER BY version'

/** Where the database stands against the code's steps, changing nothing. */
export async function migrationStatus(db: Database, steps: readonly Step[]): Promise<MigrationStatus> {
  const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('stoa_migrations')::text AS t")
  if (rows[0]?.t == null) return statusOf([], steps)
  const applied = await db.query<AppliedRow>(SELECT_APPLIED)
  return statusOf(applied.rows, steps)
}

/**
 * Brings the schema up to the code's newest step, in one transaction under an advisory lock:
 * instances starting together queue on the lock, one applies the steps and the others find
 * them done; a crash leaves nothing half applied. An applied step the code changed, or one it
 * does not know, is refused with `SCHEMA_MISMATCH` before anything runs.
 *
 * @returns the versions applied now (empty when the schema was current)
 */
export async function migrate(db: Database, steps: readonly Step[]): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
    await tx.exec(OWN_TABLES)
    const { rows } = await tx.query<AppliedRow>(SELECT_APPLIED)
    const problems = problemsOf(rows, steps)
    if (problems.length > 0) {
      throw new StoaError(
        'SCHEMA_MISMATCH',
        `the database at ${db.where} does not match this code: ${problems.join('; ')}`,
        {
          database: db.where,
          problems,
        },
      )
    }
    const done = new Set(rows.map((r) => r.version))
    const applied: number[] = []
    for (const step of steps) {
      if (done.has(step.version)) continue
      await step.run(tx)
      await tx.query('INSERT INTO stoa_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        step.version,
        step.name,
        step.checksum,
      ])
      applied.push(step.version)
    }
    return applied
  })
}
