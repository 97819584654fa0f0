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
  close(): Promise<void>
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
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
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
  return {
    kind: 'postgres',
    query: (text, params) => pool.query(text, params as unknown[]) as never,
    exec: async (text) => void (await pool.query(text)),
    async transaction(fn) {
      const client = await pool.connect()
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
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    },
    close: () => pool.end(),
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
