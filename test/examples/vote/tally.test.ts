import { randomUUID } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import type { Database, PostgresHandle } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { MIGRATIONS } from '../../../examples/vote/store/schema.js'
import type { Outcome, Vote } from '../../../examples/vote/store/tally.js'
import { readResults as readOn, recordVote as recordIn } from '../../../examples/vote/store/tally.js'
import { quietLogger } from '../../helpers/wait.js'

/** A service on PGlite in memory with the tally's migrations, as the tally worker loads them. */
async function tallyDatabase(): Promise<{ service: Stoa<any>; handle: PostgresHandle }> {
  const service = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, {
    dataDir: 'memory://',
    migrations: [...MIGRATIONS],
  })
  await service.ready()
  return { service, handle: service.handleOf(postgres) }
}

describe('examples/vote tally: one vote per voter, the first accepted', function () {
  // A fresh PGlite takes seconds to initialise: one for the whole file, emptied between tests.
  this.timeout(60_000)
  let service: Stoa<any> | undefined
  let handle: PostgresHandle
  let store: Database
  // Each vote in one transaction of the plugin, as the tally's action records it.
  const recordVote = (_db: Database, v: Vote): Promise<Outcome> =>
    handle.transaction(undefined, (tx) => recordIn(tx, v))
  const readResults = (db: Database) => readOn(db)

  before(async () => {
    ;({ service, handle } = await tallyDatabase())
    store = handle.db
  })
  after(() => service?.close())
  beforeEach(() => store.exec('TRUNCATE votes, ballots'))

  const vote = (voter: string, choice: 'cats' | 'dogs', acceptedAt: number, voteId = randomUUID()): Vote => ({
    voteId,
    voter,
    choice,
    acceptedAt,
  })

  it("counts a voter's first vote, a later one as a duplicate, a redelivery not at all", async () => {
    const first = vote('ada', 'cats', 1000)
    expect(await recordVote(store, first)).to.equal('counted')
    expect(await recordVote(store, vote('ada', 'dogs', 2000))).to.equal('duplicate')
    expect(await recordVote(store, first)).to.equal('redelivered')
    expect(await readResults(store)).to.deep.equal({ cats: 1, dogs: 0, total: 1, duplicates: 1 })
    const { rows } = await store.query<{ deliveries: number }>('SELECT deliveries FROM votes WHERE vote_id = $1', [
      first.voteId,
    ])
    expect(rows[0]!.deliveries).to.equal(2)
  })

  it('keeps the earliest accepted vote whatever order the tasks arrive in', async () => {
    expect(await recordVote(store, vote('bob', 'dogs', 5000))).to.equal('counted')
    expect(await recordVote(store, vote('bob', 'cats', 4000))).to.equal('replaced')
    expect(await recordVote(store, vote('bob', 'dogs', 4500))).to.equal('duplicate')
    expect(await readResults(store)).to.deep.equal({ cats: 1, dogs: 0, total: 1, duplicates: 2 })
  })

  it('breaks a tie on the accepted time by the smaller vote id', async () => {
    const low = '00000000-0000-4000-8000-000000000001'
    const high = 'ffffffff-0000-4000-8000-000000000001'
    expect(await recordVote(store, vote('cy', 'dogs', 7000, high))).to.equal('counted')
    expect(await recordVote(store, vote('cy', 'cats', 7000, low))).to.equal('replaced')
    expect(await recordVote(store, vote('cy', 'dogs', 7000, high))).to.equal('redelivered')
    const { rows } = await store.query<{ vote_id: string }>('SELECT vote_id FROM ballots WHERE voter = $1', ['cy'])
    expect(rows[0]!.vote_id).to.equal(low)
  })

  it('ends with the same counts for any arrival order, redeliveries included', async () => {
    const votes: Vote[] = []
    for (let i = 0; i < 300; i++)
      votes.push(vote(`v${i % 70}`, i % 3 === 0 ? 'cats' : 'dogs', 1000 + Math.floor(i / 2)))
    const arrivals = [...votes, ...votes.slice(0, 50)].sort(() => Math.random() - 0.5)
    for (const v of arrivals) await recordVote(store, v)
    const winners = new Map<string, Vote>()
    for (const v of votes) {
      const w = winners.get(v.voter)
      if (w === undefined || v.acceptedAt < w.acceptedAt || (v.acceptedAt === w.acceptedAt && v.voteId < w.voteId))
        winners.set(v.voter, v)
    }
    const cats = [...winners.values()].filter((v) => v.choice === 'cats').length
    expect(await readResults(store)).to.deep.equal({
      cats,
      dogs: winners.size - cats,
      total: winners.size,
      duplicates: votes.length - winners.size,
    })
    const { rows } = await store.query<{ voter: string; vote_id: string }>('SELECT voter, vote_id FROM ballots')
    for (const r of rows) expect(r.vote_id).to.equal(winners.get(r.voter)!.voteId)
  })
})

describe('examples/vote schema on the postgres plugin', function () {
  this.timeout(60_000)
  let service: Stoa<any> | undefined
  after(() => service?.close())

  it('is applied at the start as version 1 and leaves no table of a hand-written outbox', async () => {
    let handle: PostgresHandle
    ;({ service, handle } = await tallyDatabase())
    const status = await handle.migrations('status')
    expect(status).to.have.property('pending').that.deep.equals([])
    const { rows } = await handle.db.query<{ version: number }>('SELECT version FROM stoa_migrations ORDER BY version')
    expect(rows.map((r) => r.version)).to.deep.equal(MIGRATIONS.map((m) => m.version))
    const tables = await handle.db.query<{ t: string | null }>("SELECT to_regclass('task_outbox')::text AS t")
    expect(tables.rows[0]!.t).to.equal(null)
  })
})
