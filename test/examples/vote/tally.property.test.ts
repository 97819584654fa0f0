import { PGlite } from '@electric-sql/pglite'
import { expect } from 'chai'
import fc from 'fast-check'
import type { Stoa } from '../../../actions/index.js'
import { action, createStoa, definePlugin } from '../../../actions/index.js'
import { tallyService } from '../../../examples/vote/services/tally.js'
import type { Vote } from '../../../examples/vote/store/tally.js'
import { readResults } from '../../../examples/vote/store/tally.js'
import { voteTask } from '../../../examples/vote/tally.js'
import type { Sql } from '../../../plugins/postgres/index.js'
import type { Harness, HarnessServiceOptions } from '../../../plugins/testing/index.js'
import { createHarness, ExploreFailure, explore } from '../../../plugins/testing/index.js'

/*
 * "Every accepted vote counted once", the property the chaos tests prove by killing workers and
 * brokers for minutes (cluster.e2e, chaos.e2e), checked here on stoa/testing in seconds: the
 * tally service as `stoa serve` runs it (the tally plugin on stoa/postgres: its migrations, its
 * batches, one transaction per batch, its `vote.recorded` events through the outbox and the
 * relay), two workers competing for the votes on one PGlite that outlives them (the service's
 * database: a second service gets a PGlite of its own, or its relay would publish the tally's
 * rows), a board service that hears the events, and every fault the kit knows, in schedules and
 * delivery orders fast-check draws and shrinks. The slow tests stay the final proof on real
 * brokers and PostgreSQL; this one is where a broken de-duplication is found first.
 */

/** Votes of a few voters, so that voters vote more than once. */
const votes = fc
  .array(fc.record({ voter: fc.constantFrom('ada', 'bob', 'cy'), choice: fc.constantFrom('cats', 'dogs') }), {
    minLength: 1,
    maxLength: 6,
  })
  .map((list): Vote[] =>
    list.map((v, i) => ({
      voteId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      voter: v.voter,
      choice: v.choice as Vote['choice'],
      acceptedAt: 1_000 + i,
    })),
  )

/** PGlite (or one of its transactions) as the vote store's SQL. */
function sqlOf(db: Pick<PGlite, 'query' | 'exec'>): Sql {
  return {
    query: async (text, params) => (await db.query(text, params as unknown[])) as never,
    exec: async (text) => void (await db.exec(text)),
  }
}

/**
 * The gateway's side: publish the vote, and publish it again (the same vote id) while the
 * broker's confirm does not come back, as a sender that must not lose an accepted vote does.
 */
function castAll(h: Harness, list: readonly Vote[]): void {
  for (const vote of list)
    h.spawn(async () => {
      for (let tries = 1; ; tries++) {
        try {
          return await h.send('tally.vote.record', { ...vote })
        } catch (err) {
          if (tries === 10) throw err
          await h.clock.sleep('1s')
        }
      }
    }, `cast ${vote.voteId}`)
}

/** Rows left in a service's outbox. */
async function outboxDepth(sql: Sql): Promise<number> {
  return (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM stoa_outbox')).rows[0]!.n
}

/** The one vote that counts per voter: the earliest accepted, then the smallest vote id. */
function winners(list: readonly Vote[]): Map<string, Vote> {
  const out = new Map<string, Vote>()
  for (const v of list) {
    const w = out.get(v.voter)
    if (w === undefined || v.acceptedAt < w.acceptedAt || (v.acceptedAt === w.acceptedAt && v.voteId < w.voteId))
      out.set(v.voter, v)
  }
  return out
}

describe('examples/vote tally on stoa/testing: every accepted vote counted once, under faults', function () {
  this.timeout(120_000)
  let db: PGlite
  let store: Sql

  before(async () => {
    db = await PGlite.create()
    store = sqlOf(db)
    // The tally's migrations, applied as the service applies them at start.
    const h = createHarness()
    await h.start(tallyService({ pglite: db }))
    await h.close()
    await store.exec('CREATE TABLE counted (vote_id uuid NOT NULL, voter text NOT NULL, choice text NOT NULL)')
    // Every row the tally writes to its outbox, kept after the relay deletes it.
    await store.exec(`
      CREATE TABLE outbox_written (id text NOT NULL, name text NOT NULL, vote_id text);
      CREATE FUNCTION keep_outbox_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO outbox_written VALUES (NEW.id, NEW.name, NEW.data->>'voteId'); RETURN NEW; END $$;
      CREATE TRIGGER keep_outbox_row AFTER INSERT ON stoa_outbox FOR EACH ROW EXECUTE FUNCTION keep_outbox_row();
    `)
  })
  after(() => db?.close())

  const empty = () => store.exec('TRUNCATE votes, ballots, counted, stoa_outbox, stoa_inbox, outbox_written')

  it('holds for the tally service over drops, duplicates, delays, reorders, crashes before the ack and lost confirms', async () => {
    /** The votes the board heard of, one entry per delivery of `vote.recorded`. */
    let heard: string[] = []
    const board = (o: HarnessServiceOptions) =>
      createStoa({ name: 'board', ...o }).on('vote.recorded', (msg) => void heard.push(String(msg.voteId)))
    await explore({
      input: votes,
      runs: 30,
      run: async (h, list) => {
        heard = []
        await h.start(board)
        await h.start(tallyService({ pglite: db }), { instances: 2 })
        castAll(h, list)
      },
      check: async (h, list) => {
        // The relay publishes beside the broker's work: the check waits for its outbox to empty.
        await h.settleUntil(async () => (await outboxDepth(store)) === 0)
        expect(h.deadLetters, 'dead letters').to.deep.equal([])
        const { rows } = await store.query<{ vote_id: string }>('SELECT vote_id FROM votes ORDER BY vote_id')
        expect(rows.map((r) => r.vote_id)).to.deep.equal(list.map((v) => v.voteId))
        const ballots = await store.query<{ voter: string; vote_id: string }>('SELECT voter, vote_id FROM ballots')
        const want = winners(list)
        expect(new Map(ballots.rows.map((b) => [b.voter, b.vote_id]))).to.deep.equal(
          new Map([...want].map(([voter, v]) => [voter, v.voteId])),
        )
        const cats = [...want.values()].filter((v) => v.choice === 'cats').length
        expect(await readResults(store)).to.deep.equal({
          cats,
          dogs: want.size - cats,
          total: want.size,
          duplicates: list.length - want.size,
        })
        // One event per vote, whatever was redelivered: one row of the outbox each, published
        // (at least once: a relay may publish a row again, under the same message id) and heard
        // (a duplicate delivery is the board's to absorb).
        const written = await store.query<{ vote_id: string }>(
          "SELECT vote_id FROM outbox_written WHERE name = 'vote.recorded' ORDER BY vote_id",
        )
        expect(
          written.rows.map((r) => r.vote_id),
          'events written to the outbox',
        ).to.deep.equal(list.map((v) => v.voteId))
        const published = new Set(h.emitted('vote.recorded').map((p) => String(p.data.voteId)))
        expect([...published].sort(), 'events published').to.deep.equal(list.map((v) => v.voteId))
        expect([...new Set(heard)].sort(), 'votes the board heard of').to.deep.equal(list.map((v) => v.voteId))
      },
      reset: empty,
    })
  })

  /**
   * A tally that de-duplicates in memory: a set of the vote ids it has counted, lost with the
   * process. A redelivery to the same instance is caught; one after a crash before the ack is
   * not. The chaos test finds this by killing a worker mid-stream; here it takes one run.
   */
  const forgetful = definePlugin({
    name: 'tally',
    actions: () => {
      const seen = new Set<string>()
      return {
        'task:tally.vote.record': action({
          schema: voteTask,
          handler: async (vote) => {
            if (seen.has(vote.voteId)) return
            await store.query('INSERT INTO counted (vote_id, voter, choice) VALUES ($1, $2, $3)', [
              vote.voteId,
              vote.voter,
              vote.choice,
            ])
            seen.add(vote.voteId)
          },
        }),
      }
    },
  })

  const countedOnce = async (_h: Harness, list: readonly Vote[]) => {
    const { rows } = await store.query<{ vote_id: string; n: number }>(
      'SELECT vote_id, count(*)::int AS n FROM counted GROUP BY vote_id ORDER BY vote_id',
    )
    expect(rows, 'times each vote was counted').to.deep.equal(list.map((v) => ({ vote_id: v.voteId, n: 1 })))
  }

  it('finds a de-duplication lost in a crash, and shrinks it to one vote and one crash', async () => {
    const worker = (o: HarnessServiceOptions): Stoa<any> => createStoa({ name: 'tally', ...o }).use(forgetful)
    let failure: unknown
    await explore({
      input: votes,
      runs: 100,
      seed: 4242,
      run: async (h, list) => {
        await h.start(worker)
        castAll(h, list)
      },
      check: countedOnce,
      reset: empty,
    }).catch((err: unknown) => {
      failure = err
    })
    expect(failure).to.be.instanceOf(ExploreFailure)
    const f = failure as ExploreFailure
    expect(f.schedule.filter((k) => k !== 'none')).to.deep.equal(['crash'])
    expect(f.input).to.have.length(1)
    expect(f.message).to.match(/replay: explore\(\{ \.\.\., seed: 4242, path: '[\d:]+' \}\)/)
    expect(f.trace).to.match(/tally#1 crashed[\s\S]*tally#2 joined[\s\S]*acked by tally#2/)

    // The seed and path it printed replay that very case first.
    let again: unknown
    await explore({
      input: votes,
      runs: 1,
      seed: f.seed,
      path: f.path,
      run: async (h, list) => {
        await h.start(worker)
        castAll(h, list)
      },
      check: countedOnce,
      reset: empty,
    }).catch((err: unknown) => {
      again = err
    })
    expect((again as ExploreFailure).schedule).to.deep.equal(f.schedule)
    expect((again as ExploreFailure).input).to.deep.equal(f.input)
  })
})
