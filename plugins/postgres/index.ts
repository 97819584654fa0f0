/**
 * The postgres plugin, `stoa/postgres`: one database per service, on PostgreSQL through `pg`
 * or embedded on PGlite, with the same SQL. Migrations at start under an advisory lock with
 * checksums; a transaction API whose sends and emits go to an outbox, published after commit by
 * a relay in every instance; idempotent actions through an inbox in the same transaction; and
 * database outages that hold the instance's intake instead of spending its retries. See
 * docs/state.md.
 *
 * @module stoa/postgres
 */
import { join } from 'node:path'
import type { Context, PluginHost } from '../../actions/index.js'
import { definePlugin, StoaError } from '../../actions/index.js'
import metrics from '../metrics/index.js'
import type { Database, DatabaseSettings } from './db.js'
import { onPglite, openPglite, openPostgres } from './db.js'
import { expireInbox, idempotentHook } from './inbox.js'
import type { MigrationStatus, Step } from './migrations.js'
import { loadSteps, migrate, migrationStatus } from './migrations.js'
import type { ResolvedPostgresOptions } from './options.js'
import { fromEnvironment, postgresOptions } from './options.js'
import { outboxDepth, Relay } from './outbox.js'
import type { Transaction } from './transaction.js'
import { Transactions } from './transaction.js'

export type { Database, OpenPglite, PoolStats, Sql } from './db.js'
export { isConflict, isConnectionError, isRetryableDatabaseError } from './errors.js'
export type { Idempotent } from './inbox.js'
export type { MigrationStatus } from './migrations.js'
export type { MigrationStep, PostgresOptions } from './options.js'
export { fromEnvironment } from './options.js'
export type { Transaction } from './transaction.js'

/** The name a hold on intake and a readiness check go by. */
const NAME = 'postgres'

/**
 * What `stoa.handleOf(postgres)` gives: the database, transactions for actions, the relay's
 * controls and the migrations.
 */
export interface PostgresHandle {
  /** The database, once the plugin started (`ready()`); before that, reading it throws `UNAVAILABLE`. */
  readonly db: Database
  /**
   * Runs `fn` in one transaction for the call `ctx` (or `undefined` outside any call): rows
   * through `tx.query`, tasks and events through `tx.send` and `tx.emit`, published after the
   * commit with the trace, token and deadline `ctx.send` would give them. Inside an idempotent
   * action, its transaction is joined.
   */
  transaction<T>(ctx: Context | undefined, fn: (tx: Transaction) => Promise<T>): Promise<T>
  /** The outbox relay of this instance. */
  readonly relay: {
    /** Stops publishing (a test's hook to crash between commit and publish). */
    pause(): void
    resume(): void
    /** Publishes everything available now, even while paused; resolves with how many. */
    flush(): Promise<number>
    /** How many messages this relay published since start. */
    readonly published: number
  }
  /** Messages waiting in the outbox, and how long the oldest has waited. */
  outbox(): Promise<{ depth: number; lagSeconds: number }>
  /** Deletes inbox keys past the retention now; resolves with how many. */
  expireInbox(): Promise<number>
  /**
   * `stoa migrate`: where the schema stands (`status`), or apply what is pending (`up`). Works
   * on an instance that was not started, with a connection of its own.
   */
  migrations(op: 'status'): Promise<MigrationStatus>
  migrations(op: 'up'): Promise<number[]>
}

/**
 * The postgres plugin. The database is `url` (else `DATABASE_URL`) on PostgreSQL, or PGlite in
 * `dataDir` (default `.stoa/<service>`). At start it applies the migrations (refusing a schema
 * the code does not know with `SCHEMA_MISMATCH`), registers the `postgres` readiness check,
 * starts the relay and, when the metrics plugin is loaded (before it), adds the pool and outbox
 * gauges. Load it after jwt (whose identities tasks carry) and before the transports listen, so
 * that a service never takes work on a schema it does not know.
 *
 * @example
 * const tally = createStoa({ name: 'tally' })
 *   .use(postgres, { url: 'postgres://127.0.0.1/tally', migrations: './migrations' })
 *   .add('task:tally.vote.record', {
 *     idempotent: true,
 *     handler: (msg, ctx) =>
 *       tally.handleOf(postgres).transaction(ctx, async (tx) => {
 *         await tx.query('INSERT INTO votes (voter) VALUES ($1)', [msg.voter])
 *         await tx.emit('vote.recorded', { voter: msg.voter })
 *       }),
 *   })
 */
const postgres = definePlugin({
  name: 'postgres',
  options: postgresOptions,
  setup: (options, host) => {
    let db: Database | undefined
    let steps: Step[] | undefined
    let relay: Relay | undefined
    const database = (): Database => {
      if (db === undefined) throw new StoaError('UNAVAILABLE', `the postgres plugin of "${host.name}" has not started`)
      return db
    }
    const txs = new Transactions(
      database,
      host.name,
      host.clock,
      options.conflictRetries,
      () => relay?.wake(),
      () => (relay === undefined ? '' : relay.publishing ? undefined : relay.instance),
    )
    const stepsOf = (): Step[] => (steps ??= loadSteps(options.migrations, process.cwd()))
    const migrations = (async (op: 'status' | 'up') => {
      const own = db === undefined ? await open(options, host.name) : undefined
      try {
        const on = own ?? db!
        return op === 'status' ? await migrationStatus(on, stepsOf()) : await migrate(on, stepsOf())
      } finally {
        await own?.close()
      }
    }) as PostgresHandle['migrations']
    const handle: PostgresHandle = {
      get db() {
        return database()
      },
      transaction: (ctx, fn) => txs.run(ctx, fn),
      relay: {
        pause: () => relay?.pause(),
        resume: () => relay?.resume(),
        flush: () => (relay === undefined ? Promise.resolve(0) : relay.flush()),
        get published() {
          return relay?.published ?? 0
        },
      },
      outbox: () => outboxDepth(database()),
      expireInbox: () => expireInbox(database(), options.inbox.retentionMs, host.clock.now()),
      migrations,
    }
    return {
      hooks: { inbound: idempotentHook(txs, host.clock) },
      init: async (stoa: PluginHost) => {
        // Checked before any connection: a folder that is missing is the options' fault.
        const known = stepsOf()
        const opened = await open(options, host.name)
        try {
          const applied = await migrate(opened, known)
          if (applied.length > 0) host.log.info({ applied, database: opened.where }, 'postgres: migrations applied')
        } catch (err) {
          await opened.close().catch(() => undefined)
          throw err
        }
        db = opened
        stoa.addCheck(NAME, async () => {
          const down = opened.outage()
          if (down !== undefined) throw new Error(down)
          // An active look, so that an outage is noticed with no work flowing (and holds intake).
          if (opened.kind === 'postgres') await opened.query('SELECT 1')
        })
        // Down: hold intake (consumers cancelled, readiness false, failed tasks back to the
        // queue uncounted); back: take work again and publish what waited.
        opened.onChange((down) => {
          if (down !== undefined) {
            host.log.warn({ database: opened.where, reason: down }, 'postgres: database lost; holding intake')
            stoa.pauseIntake(NAME, down)
          } else {
            host.log.warn({ database: opened.where }, 'postgres: database back; taking work again')
            stoa.resumeIntake(NAME)
            relay?.wake()
          }
        })
        relay = new Relay(
          opened,
          stoa,
          host.log,
          { ...options.relay, poolSize: options.poolSize },
          options.relay.paused,
        )
        await relay.start()
        // On the instance's clock, as the relay's sweep: a virtual one moves it in a test.
        const clock = host.clock
        let sweep = clock.setTimer(function expire() {
          sweep = clock.setTimer(expire, options.inbox.sweepMs)
          sweep.unref()
          if (opened.outage() !== undefined) return
          expireInbox(opened, options.inbox.retentionMs, clock.now()).catch((err: unknown) =>
            host.log.warn({ err }, 'postgres: inbox expiry failed'),
          )
        }, options.inbox.sweepMs)
        sweep.unref()
        if (stoa.hasPlugin('metrics')) addGauges(stoa, opened)
        return async () => {
          clock.clearTimer(sweep)
          await relay?.stop()
          await opened.close()
        }
      },
      handle,
    }
  },
})

export default postgres

/** Opens the database the options name: PostgreSQL at `url` or `DATABASE_URL`, else PGlite. */
async function open(options: ResolvedPostgresOptions, service: string): Promise<Database> {
  const settings: DatabaseSettings = {
    poolSize: options.poolSize,
    connectTimeoutMs: options.connectTimeoutMs,
    probeMs: options.probeMs,
  }
  // The owner's PGlite is the owner's to close.
  if (options.pglite !== undefined) return onPglite(options.pglite, 'pglite', async () => undefined)
  const url = options.url ?? fromEnvironment().url
  if (url !== undefined) return openPostgres(url, settings)
  return openPglite(options.dataDir ?? join('.stoa', service))
}

/** The pool and outbox gauges, through the metrics plugin's handle. */
function addGauges(stoa: PluginHost, db: Database): void {
  const m = stoa.handleOf(metrics)
  m.gauge('db_pool_connections', 'Connections the database pool holds', () => db.pool().total)
  m.gauge('db_pool_idle', 'Connections of the pool not in use', () => db.pool().idle)
  m.gauge('db_pool_waiting', 'Queries waiting for a connection of the pool', () => db.pool().waiting)
  m.gauge('outbox_depth', 'Messages in the outbox waiting to be published', async () => (await outboxDepth(db)).depth)
  m.gauge(
    'outbox_lag_seconds',
    'How long the oldest message in the outbox has waited to be published',
    async () => (await outboxDepth(db)).lagSeconds,
  )
}
