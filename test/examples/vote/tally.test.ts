import { randomUUID } from 'node:crypto'
import { expect } from 'chai'
import type { Store } from '../../../examples/vote/store/db.js'
import { createPgliteStore } from '../../../examples/vote/store/db.js'
import { migrate, SCHEMA_VERSION } from '../../../examples/vote/store/migrations.js'
import type { Vote } from '../../../examples/vote/store/tally.js'
import { readResults, recordVote } from '../../../examples/vote/store/tally.js'

describe('examples/vote tally: one vote per voter, the first accepted', function () {
  // A fresh PGlite takes seconds to initialise: one for the whole file, emptied between tests.
  this.timeout(60_000)
  let store: Store

  before(async () => {
    store = await createPgliteStore('memory://')
    await migrate(store)
  })
  after(() => store?.close())
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

describe('examples/vote migrations', function () {
  this.timeout(60_000)
  let store: Store

  before(async () => {
    store = await createPgliteStore('memory://')
  })
  after(() => store?.close())

  it('apply once, then find the schema current', async () => {
    expect(await migrate(store)).to.deep.equal([SCHEMA_VERSION])
    expect(await migrate(store)).to.deep.equal([])
  })

  it('refuse a database at a schema version this code does not know', async () => {
    await store.query('INSERT INTO schema_versions (version) VALUES ($1)', [SCHEMA_VERSION + 1])
    let caught: unknown
    await migrate(store).catch((err: unknown) => {
      caught = err
    })
    expect(caught).to.have.property('code', 'INVALID_PLUGIN')
    expect(String((caught as Error).message)).to.match(/newer than this code knows/)
  })
})
