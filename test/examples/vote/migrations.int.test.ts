import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import type { Store } from '../../../examples/vote/store/db.js'
import { createPgStore } from '../../../examples/vote/store/db.js'
import { migrate, SCHEMA_VERSION } from '../../../examples/vote/store/migrations.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

describe('examples/vote migrations on PostgreSQL: workers starting at once', function () {
  this.timeout(30_000)
  const database = `vote_migrate_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  const stores: Store[] = []

  before(async () => {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    const url = new URL(PG_URL)
    url.pathname = `/${database}`
    // Five workers, each with its own pool, as five processes would have.
    for (let i = 0; i < 5; i++) stores.push(await createPgStore(url.toString(), 2))
  })
  after(async () => {
    for (const s of stores) await s.close()
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  })

  it('apply each step exactly once under the advisory lock; the others find it done', async () => {
    const applied = await Promise.all(stores.map((s) => migrate(s)))
    expect(applied.flat()).to.deep.equal([SCHEMA_VERSION])
    const { rows } = await stores[0]!.query<{ version: number }>('SELECT version FROM schema_versions ORDER BY version')
    expect(rows.map((r) => r.version)).to.deep.equal([SCHEMA_VERSION])
  })
})
