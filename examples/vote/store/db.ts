import { StoaError } from 'stoa'

/** Something SQL runs on: a pool, a connection inside a transaction, or PGlite. */
export interface Sql {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[] }>
  /** Runs several statements without parameters (a migration step). */
  exec(text: string): Promise<void>
}

/**
 * The vote system's database, whatever runs it: PostgreSQL through `pg`, or PGlite (PostgreSQL
 * compiled to WebAssembly) in a data directory. The same SQL and migrations run on both.
 */
export interface Store extends Sql {
  /** `embedded` (PGlite, one process) or `postgres`. */
  readonly kind: 'embedded' | 'postgres'
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it rejects. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
  /**
   * Why the database cannot be reached now (it went away: a restart, a lost network), or
   * undefined while it can. The store finds out by itself when it is back.
   */
  outage(): string | undefined
  close(): Promise<void>
}

/** How often a store that lost its database tries it again, ms. */
const PROBE_MS = 500

/**
 * Errors that say the connection, not the statement, failed: socket errors, SQLSTATE class 08
 * (connection exception), and the server shutting down or not yet accepting (57P01 to 57P03,
 * https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
])

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true
  // pg's own words when the socket closes under it or a connect times out.
  return err instanceof Error && /connection terminated|connection timeout|connection error/i.test(err.message)
}

/**
 * A store on PostgreSQL. `pg` is imported here, when a store is made, so the embedded demo
 * never loads it.
 *
 * @example
 * const store = await createPgStore('postgres://127.0.0.1/vote', 10)
 */
export async function createPgStore(url: string, poolSize = 10): Promise<Store> {
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A database that stops answering (a host gone, not refusing) must not hold a connect forever.
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  })
  // An idle client losing its connection (PostgreSQL restarted) must not crash the process.
  pool.on('error', () => undefined)
  try {
    const c = await pool.connect()
    c.release()
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw new StoaError(
      'UNAVAILABLE',
      `PostgreSQL at ${redact(url)} cannot be reached: ${(err as Error).message}`,
      undefined,
      { cause: err },
    )
  }
  let down: string | undefined
  let probe: NodeJS.Timeout | undefined
  const unreachable = (cause?: unknown) =>
    new StoaError('UNAVAILABLE', `PostgreSQL at ${redact(url)} is unreachable`, undefined, { cause })
  /** The database went away: fail fast from now on, and try it again until it answers. */
  const lost = (err: unknown): StoaError => {
    down ??= `PostgreSQL at ${redact(url)} is unreachable: ${(err as Error)?.message ?? String(err)}`
    probe ??= setInterval(() => {
      pool.query('SELECT 1').then(
        () => {
          down = undefined
          clearInterval(probe)
          probe = undefined
        },
        () => undefined,
      )
    }, PROBE_MS).unref()
    return unreachable(err)
  }
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p
    } catch (err) {
      throw isConnectionError(err) ? lost(err) : err
    }
  }
  return {
    kind: 'postgres',
    query: (text, params) => guard(pool.query(text, params as unknown[])) as never,
    exec: async (text) => void (await guard(pool.query(text))),
    async transaction(fn) {
      if (down !== undefined) throw unreachable()
      const client = await guard(pool.connect())
      // A checked-out client has no listener of the pool's: without this one, the connection
      // dropping mid-transaction is an unhandled 'error' event, which ends the process.
      let broken: unknown
      const onError = (err: unknown) => {
        broken ??= err
      }
      client.on('error', onError)
      try {
        await client.query('BEGIN')
        const out = await fn({
          query: (text, params) => client.query(text, params as unknown[]) as never,
          // Without parameters, pg uses the simple protocol, which runs several statements.
          exec: async (text) => void (await client.query(text)),
        })
        await client.query('COMMIT')
        return out
      } catch (err) {
        if (broken !== undefined || isConnectionError(err)) {
          broken ??= err
          // Whether a COMMIT in flight took effect is unknown: the task is tried again, and the
          // vote id makes a second try harmless.
          throw lost(err)
        }
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.off('error', onError)
        // A broken client is dropped from the pool rather than handed out again.
        client.release(broken === undefined ? undefined : (broken as Error))
      }
    },
    outage: () => down,
    async close() {
      if (probe !== undefined) clearInterval(probe)
      probe = undefined
      await pool.end()
    },
  }
}

/**
 * A store on PGlite keeping its data in `dataDir` (created when missing), so what was committed
 * survives the process. One PGlite runs one statement at a time: transactions queue.
 *
 * @example
 * const store = await createPgliteStore('.vote-data')
 */
export async function createPgliteStore(dataDir: string): Promise<Store> {
  const { PGlite } = await import('@electric-sql/pglite')
  const db = await PGlite.create(dataDir)
  return {
    kind: 'embedded',
    query: (text, params) => db.query(text, params as unknown[]) as never,
    exec: async (text) => void (await db.exec(text)),
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: (text, params) => tx.query(text, params as unknown[]) as never,
          exec: async (text) => void (await tx.exec(text)),
        }),
      ),
    // In the process itself: it does not go away while the process lives.
    outage: () => undefined,
    close: () => db.close(),
  }
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable database URL)'
  }
}
