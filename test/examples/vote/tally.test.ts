import { randomUUID } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import type { Database, PostgresHandle } from 'stoa/postgres'
import postgres from 'stoa/postgres'
import { tallyService } from '../../../examples/vote/services/tally.js'
import { MIGRATIONS } from '../../../examples/vote/store/schema.js'
import type { Outcome, Vote } from '../../../examples/vote/store/tally.js'
import { readResults as readOn, recordVote as recordIn } from '../../../examples/vote/store/tally.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

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

describe('examples/vote tally worker: vote.recorded leaves through the outbox of its transaction', function () {
  this.timeout(90_000)
  const started: Stoa<any>[] = []
  after(async () => {
    for (const s of started.reverse()) await s.close()
  })

  // One worker for the file (a PGlite takes seconds to start), on the embedded demo's bus: a send
  // is answered with the handler's outcome.
  const events: Record<string, unknown>[] = []
  let gateway: Stoa<any>
  let pg: PostgresHandle
  before(async () => {
    const bus = createMemoryBus({ tasks: 'handled' })
    const worker = tallyService({ dataDir: 'memory://', relay: { paused: true } }).create({ logger: quietLogger() })
    worker.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    const listener = createStoa({ name: 'listener', logger: quietLogger() })
      .on('vote.recorded', (msg) => {
        events.push(msg)
      })
      .listen(createMemoryTransport({ bus }))
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(createMemoryTransport({ bus }))
    started.push(worker, listener, gateway)
    await Promise.all(started.map((s) => s.ready()))
    pg = worker.handleOf(postgres)
    // A ballot for this voter fails after the vote's row is written: the transaction rolls back.
    await pg.db.exec(`
      CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN IF NEW.voter = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_boom BEFORE INSERT ON ballots FOR EACH ROW EXECUTE FUNCTION refuse_boom();
    `)
  })

  it('writes the event with a committed vote only: none for a rolled-back vote or a redelivery, published once', async () => {
    const ok = { voteId: randomUUID(), voter: 'ada', choice: 'cats', acceptedAt: 1000 }
    await gateway.send('tally.vote.record', ok)
    await gateway.send('tally.vote.record', ok) // a redelivery
    let failed: unknown
    await gateway
      .send('tally.vote.record', { voteId: randomUUID(), voter: 'boom', choice: 'dogs', acceptedAt: 2000 })
      .catch((err: unknown) => {
        failed = err
      })
    expect(failed, 'the refused vote fails its task').to.be.instanceOf(Error)

    const votes = await pg.db.query<{ voter: string }>('SELECT voter FROM votes')
    expect(votes.rows.map((r) => r.voter)).to.deep.equal(['ada'])
    const outbox = await pg.db.query<{ name: string; data: { voteId: string } }>('SELECT name, data FROM stoa_outbox')
    expect(outbox.rows.map((r) => [r.name, r.data.voteId])).to.deep.equal([['vote.recorded', ok.voteId]])
    expect(events, 'nothing published before the relay runs').to.have.length(0)

    expect(await pg.relay.flush()).to.equal(1)
    await waitFor(() => events.length === 1, 'the event published', 20_000)
    expect(events[0]).to.deep.include({ voteId: ok.voteId, choice: 'cats', outcome: 'counted' })
    expect((await pg.outbox()).depth).to.equal(0)
  })

  it('records a burst of votes in batches, fewer transactions than votes, the refused one failing alone', async () => {
    await pg.db.exec('TRUNCATE votes, ballots')
    events.length = 0
    const burst = Array.from({ length: 30 }, (_, i) => ({
      voteId: randomUUID(),
      voter: `burst-${i}`,
      choice: i % 2 === 0 ? 'cats' : 'dogs',
      acceptedAt: 5000 + i,
    }))
    const boom = { voteId: randomUUID(), voter: 'boom', choice: 'dogs', acceptedAt: 4000 }
    const outcomes = await Promise.allSettled([...burst, boom].map((v) => gateway.send('tally.vote.record', v)))
    expect(outcomes.map((o) => o.status)).to.deep.equal([...burst.map(() => 'fulfilled'), 'rejected'])
    const { rows } = await pg.db.query<{ votes: string; txs: string }>(
      'SELECT count(*)::text AS votes, count(DISTINCT xmin::text)::text AS txs FROM votes',
    )
    expect(Number(rows[0]!.votes)).to.equal(30)
    // Rows written by one transaction share its xmin: the burst took far fewer than thirty.
    expect(Number(rows[0]!.txs), `${rows[0]!.txs} transactions`).to.be.below(30)
    expect(await pg.relay.flush()).to.equal(30)
    await waitFor(() => events.length === 30, 'the thirty events', 20_000)
    expect(new Set(events.map((e) => e.voteId))).to.deep.equal(new Set(burst.map((v) => v.voteId)))
  })
})
