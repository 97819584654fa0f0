import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import type { Stoa } from 'stoa'
import { tallyService } from '../../../examples/vote/services/tally.js'
import { MIGRATIONS } from '../../../examples/vote/store/schema.js'
import { quietLogger } from '../../helpers/wait.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

describe('examples/vote migrations on PostgreSQL: tally workers starting at once', function () {
  this.timeout(60_000)
  const database = `sv_vote_migrate_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  const workers: Stoa<any>[] = []
  let url: string

  before(async () => {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    const u = new URL(PG_URL)
    u.pathname = `/${database}`
    url = u.toString()
  })
  after(async () => {
    for (const w of workers) await w.close().catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  })

  it('apply each step exactly once through the postgres plugin; the others find it done', async () => {
    // Five workers, each with its own pool, as five processes would have.
    for (let i = 0; i < 5; i++) workers.push(tallyService({ url, poolSize: 2 }).create({ logger: quietLogger() }))
    await Promise.all(workers.map((w) => w.ready()))
    const db = new pg.Client({ connectionString: url })
    await db.connect()
    try {
      const { rows } = await db.query<{ version: number }>('SELECT version FROM stoa_migrations ORDER BY version')
      expect(rows.map((r) => r.version)).to.deep.equal(MIGRATIONS.map((m) => m.version))
      const tables = await db.query<{ t: string | null }>("SELECT to_regclass('ballots')::text AS t")
      expect(tables.rows[0]!.t).to.equal('ballots')
    } finally {
      await db.end()
    }
  })
})
