import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The machine's PostgreSQL, where tests make databases of their own. */
export const ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A database of a test's own, `<prefix>_<random>`, on the machine's PostgreSQL. */
export interface TestDatabase {
  readonly name: string
  readonly url: string
  /** Drops it, ending whatever sessions are still connected. */
  drop(): Promise<void>
}

/**
 * Creates a fresh database on {@link ADMIN_URL} (or on `admin`, a server of the test's own).
 * `STOA_TEST_DB_PREFIX` goes before every name, so that runs sharing a server tell theirs apart.
 */
export async function createTestDatabase(prefix = 'st', admin = ADMIN_URL): Promise<TestDatabase> {
  const name = `${process.env.STOA_TEST_DB_PREFIX ?? ''}${prefix}_${randomBytes(6).toString('hex')}`
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`)
  const client = new pg.Client({ connectionString: admin })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE ${name}`)
  } finally {
    await client.end()
  }
  const url = new URL(admin)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}
