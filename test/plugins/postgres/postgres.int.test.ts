import { expect } from 'chai'
import type { Context, Stoa } from '../../../actions/index.js'
import { createStoa, type StoaError } from '../../../actions/index.js'
import type { Envelope, Reply, Transport } from '../../../actions/transport.js'
import postgres from '../../../plugins/postgres/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const STEPS = [
  {
    version: 1,
    name: 'votes',
    // Fails when run a second time: a second apply would stop that instance's start.
    sql: `CREATE TABLE votes (voter text PRIMARY KEY, n int NOT NULL DEFAULT 0);
          CREATE TABLE applied_log (at timestamptz NOT NULL DEFAULT now());
          INSERT INTO applied_log DEFAULT VALUES;`,
  },
  { version: 2, name: 'slow', sql: 'SELECT pg_sleep(0.3); INSERT INTO applied_log DEFAULT VALUES;' },
]

describe('postgres plugin on PostgreSQL', function () {
  this.timeout(120_000)
  let db: TestDatabase
  const started: Stoa<any>[] = []

  beforeEach(async () => {
    db = await createTestDatabase('st')
  })
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
    await db.drop()
  })

  function instance(name: string, options: Record<string, unknown> = {}) {
    const logger = quietLogger()
    const stoa = createStoa({ name, logger }).use(postgres, { url: db.url, migrations: STEPS, ...options } as never)
    started.push(stoa)
    return { stoa, logger, pg: () => stoa.handleOf(postgres) }
  }

  it('five instances starting at once apply each migration once', async () => {
    const five = Array.from({ length: 5 }, () => instance('svc'))
    await Promise.all(five.map((i) => i.stoa.ready()))
    const pg = five[0]!.pg()
    expect((await pg.db.query('SELECT count(*)::int AS n FROM applied_log')).rows[0]).to.deep.equal({ n: 2 })
    expect((await pg.db.query('SELECT version FROM stoa_migrations ORDER BY version')).rows).to.deep.equal([
      { version: 1 },
      { version: 2 },
    ])
    const applying = five.filter((i) => i.logger.entries.some((e) => e.message === 'postgres: migrations applied'))
    expect(applying).to.have.length(1)
  })

  it('two relays on one outbox publish every message once between them', async () => {
    const bus = createMemoryBus()
    const ids: string[] = []
    const worker = createStoa({ name: 'tally', logger: quietLogger() })
      .add('task:tally.vote.record', (_m: unknown, ctx: Context) => {
        ids.push(ctx.id)
      })
      .listen(createMemoryTransport({ bus }))
    started.push(worker)
    const a = instance('gateway', { relay: { paused: true, batch: 10 } })
    const b = instance('gateway', { relay: { paused: true, batch: 10 } })
    a.stoa.client(createMemoryTransport({ bus }))
    b.stoa.client(createMemoryTransport({ bus }))
    await Promise.all([worker.ready(), a.stoa.ready(), b.stoa.ready()])
    const n = 300
    for (let i = 0; i < n; i += 50) {
      await a.pg().transaction(undefined, async (tx) => {
        for (let j = i; j < i + 50; j++) await tx.send('tally.vote.record', { i: j })
      })
    }
    expect((await a.pg().outbox()).depth).to.equal(n)
    a.pg().relay.resume()
    b.pg().relay.resume()
    await waitFor(() => a.pg().relay.published + b.pg().relay.published === n, 'every row published', 60_000)
    await waitFor(() => ids.length >= n, 'every task delivered', 30_000)
    expect(new Set(ids).size).to.equal(n)
    // Nothing published twice: SKIP LOCKED gave each row to one relay.
    expect(ids).to.have.length(n)
    expect((await a.pg().outbox()).depth).to.equal(0)
  })

  /** A client transport taking every task, answering each as `answer` says; what it was given in `seen`. */
  function takingClient(answer: (e: Envelope, i: number) => Promise<Reply>): {
    transport: Transport
    seen: Envelope[]
  } {
    const seen: Envelope[] = []
    const transport: Transport = {
      name: 'taking',
      client: async () => ({ deliver: (e) => answer(e, seen.push(e) - 1) }),
      close: async () => undefined,
    }
    return { transport, seen }
  }
  const confirmed: Reply = { ok: true, out: undefined }
  const never = () => new Promise<Reply>(() => undefined)

  it('a publish the transport has not confirmed within the lease counts failed: the row stays, and is published again later with its id', async () => {
    // The first publish never settles (a confirm the broker never sends); the next one is confirmed.
    const { transport, seen } = takingClient((_e, i) => (i === 0 ? never() : Promise.resolve(confirmed)))
    const a = instance('gateway', { relay: { paused: true, leaseMs: 200 } })
    a.stoa.client(transport)
    await a.stoa.ready()
    await a.pg().transaction(undefined, (tx) => tx.send('tally.vote.record', { voter: 'v' }, { id: 'late-1' }))
    // The pass ends at the lease rather than waiting for the confirm, and publishes nothing.
    expect(await a.pg().relay.flush()).to.equal(0)
    const { rows } = await a.pg().db.query('SELECT id, attempts, last_error FROM stoa_outbox')
    expect(rows).to.have.length(1)
    expect(rows[0]).to.include({ id: 'late-1', attempts: 1 })
    expect(rows[0]!.last_error).to.match(/not confirmed within the lease/)
    expect(a.logger.entries.some((e) => e.message === 'postgres: outbox publish failed')).to.equal(true)
    // After its backoff, the row goes out again, with the same id for the consumer's inbox.
    let published = 0
    const until = Date.now() + 20_000
    while (published === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50))
      published = await a.pg().relay.flush()
    }
    expect(published).to.equal(1)
    expect(seen.map((e) => e.meta.id)).to.deep.equal(['late-1', 'late-1'])
    expect((await a.pg().outbox()).depth).to.equal(0)
  })

  it('a relay that dies with rows claimed leaves them to another relay at once, which publishes them with their ids', async () => {
    const n = 30
    const dying = takingClient(() => never())
    // Long enough to hold the rows through the test; the lease ends the dead pass before close.
    const a = instance('gateway', { relay: { paused: true, leaseMs: 5000 } })
    a.stoa.client(dying.transport)
    const taking = takingClient(() => Promise.resolve(confirmed))
    const b = instance('gateway', { relay: { paused: true } })
    b.stoa.client(taking.transport)
    await Promise.all([a.stoa.ready(), b.stoa.ready()])
    await a.pg().transaction(undefined, async (tx) => {
      for (let i = 0; i < n; i++) await tx.send('tally.vote.record', { i }, { id: `claimed-${i}` })
    })
    // A claims every row and publishes them, and no confirm comes back.
    const stuck = a.pg().relay.flush()
    stuck.catch(() => undefined)
    await waitFor(() => dying.seen.length === n, 'every row claimed and handed to the transport', 20_000)
    // Claimed: the other relay finds nothing to take while A holds them.
    expect(await b.pg().relay.flush()).to.equal(0)
    expect(taking.seen).to.have.length(0)
    // A dies: its connection goes, as a killed process's would, its transaction with it.
    const { rows } = await b.pg().db.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND state = 'idle in transaction'`,
    )
    expect(rows[0]!.n).to.equal(1)
    let published = 0
    const until = Date.now() + 20_000
    while (published < n && Date.now() < until) {
      published += await b.pg().relay.flush()
      if (published < n) await new Promise((r) => setTimeout(r, 50))
    }
    expect(published).to.equal(n)
    expect(taking.seen.map((e) => e.meta.id).sort()).to.deep.equal(dying.seen.map((e) => e.meta.id).sort())
    expect((await b.pg().outbox()).depth).to.equal(0)
  })

  it('the relay takes the oldest rows first, by their sequence number, not by its text', async () => {
    // 150 rows, claimed 100 at a time: the first pass takes seq 1..100. Ordered by the text of
    // seq, it took 1, 10..19, 100..150, … and left 2..9 to wait behind newer rows.
    const { transport, seen } = takingClient(() => Promise.resolve(confirmed))
    const a = instance('gateway', { relay: { paused: true, batch: 100 } })
    a.stoa.client(transport)
    await a.stoa.ready()
    await a.pg().transaction(undefined, async (tx) => {
      for (let i = 0; i < 150; i++) await tx.send('tally.vote.record', { i }, { id: `ordered-${i}` })
    })
    expect(await a.pg().relay.flush()).to.equal(150)
    const first = seen.slice(0, 100).map((e) => (e.msg as { i: number }).i)
    expect([...first].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i))
  })

  it('a commit in one instance wakes another instance’s relay through NOTIFY, long before its sweep', async () => {
    const bus = createMemoryBus()
    const ids: string[] = []
    const worker = createStoa({ name: 'tally', logger: quietLogger() })
      .add('task:tally.vote.record', (_m: unknown, ctx: Context) => {
        ids.push(ctx.id)
      })
      .listen(createMemoryTransport({ bus }))
    started.push(worker)
    const writer = instance('gateway', { relay: { paused: true } })
    const relay = instance('gateway', { relay: { sweepMs: 600_000 } })
    relay.stoa.client(createMemoryTransport({ bus }))
    await Promise.all([worker.ready(), writer.stoa.ready(), relay.stoa.ready()])
    await writer.pg().transaction(undefined, (tx) => tx.send('tally.vote.record', { voter: 'n1' }, { id: 'notified' }))
    await waitFor(() => ids.includes('notified'), 'the task relayed by the other instance', 20_000)
    await waitFor(() => relay.pg().relay.published === 1, 'the relayed row deleted', 20_000)
    expect(writer.pg().relay.published).to.equal(0)
  })

  it('the same task at the same moment on two workers: one effect, and the act form answers both with the stored result', async () => {
    const workers = [instance('tally'), instance('tally')]
    for (const w of workers) {
      w.stoa.add('role:tally,cmd:record', {
        idempotent: true,
        handler: (msg: Record<string, unknown>, ctx: Context) =>
          w.pg().transaction(ctx, async (tx) => {
            const { rows } = await tx.query<{ n: number }>(
              `INSERT INTO votes (voter, n) VALUES ($1, 1) ON CONFLICT (voter) DO UPDATE SET n = votes.n + 1 RETURNING n`,
              [msg.voter],
            )
            // Hold the transaction open so that the other delivery arrives while it runs.
            await tx.query('SELECT pg_sleep(0.3)')
            return { n: rows[0]!.n, by: w === workers[0] ? 'first' : 'second' }
          }),
      })
    }
    await Promise.all(workers.map((w) => w.stoa.ready()))
    for (let round = 0; round < 5; round++) {
      const id = `dup-${round}`
      const out = await Promise.all(
        workers.map((w) => w.stoa.act('role:tally,cmd:record', { voter: `v${round}` }, { id })),
      )
      expect(out[0]).to.deep.equal(out[1])
      const { rows } = await workers[0]!.pg().db.query('SELECT n FROM votes WHERE voter = $1', [`v${round}`])
      expect(rows).to.deep.equal([{ n: 1 }])
    }
  })
  it('a connection whose commit failed the first time it recorded a key still runs idempotent actions after', async () => {
    // One connection: the failed transaction's and the next one's, unless it is replaced.
    const w = instance('tally', {
      poolSize: 1,
      migrations: [
        ...STEPS,
        {
          version: 3,
          name: 'checked',
          // Checked at COMMIT: the edge that first records a key on the connection fails.
          sql: `CREATE TABLE checked (id text NOT NULL, grp text NOT NULL,
                  CONSTRAINT one_per_grp UNIQUE (grp) DEFERRABLE INITIALLY DEFERRED);
                INSERT INTO checked VALUES ('seed', 'taken');`,
        },
      ],
    })
    w.stoa.add('role:tally,cmd:check', {
      idempotent: true,
      handler: (msg: Record<string, unknown>, ctx: Context) =>
        w.pg().transaction(ctx, async (tx) => {
          await tx.query('INSERT INTO checked (id, grp) VALUES ($1, $2)', [msg.id, msg.grp])
          return { id: msg.id }
        }),
    })
    await w.stoa.ready()
    await w.stoa.act('role:tally,cmd:check', { id: 'bad', grp: 'taken' }, { id: 'k-bad' }).then(
      () => expect.fail('the deferred constraint fails the commit'),
      (err: Error) => expect(err.message).to.match(/failed/),
    )
    for (let i = 0; i < 3; i++) {
      expect(
        await w.stoa.act('role:tally,cmd:check', { id: `good-${i}`, grp: `g${i}` }, { id: `k-${i}` }),
      ).to.deep.equal({
        id: `good-${i}`,
      })
    }
    // A repeat answers with the stored result and writes nothing.
    expect(await w.stoa.act('role:tally,cmd:check', { id: 'other', grp: 'other' }, { id: 'k-0' })).to.deep.equal({
      id: 'good-0',
    })
    const { rows } = await w.pg().db.query('SELECT id FROM checked ORDER BY id')
    expect(rows).to.deep.equal([{ id: 'good-0' }, { id: 'good-1' }, { id: 'good-2' }, { id: 'seed' }])
  })
  it('keys and results that look like SQL or like the quoting of the edge are values, stored and matched as given', async () => {
    const w = instance('tally', { poolSize: 2 })
    let runs = 0
    w.stoa.add('role:tally,cmd:echo', {
      idempotent: true,
      handler: (msg: Record<string, unknown>, ctx: Context) =>
        w.pg().transaction(ctx, async (tx) => {
          runs++
          // A message in the outbox puts the key's record in the simple query of the COMMIT,
          // quoted; without one it goes as a parameter of the extended protocol.
          if (msg.emit === true) await tx.emit('tally.echoed', { said: msg.said })
          return { said: msg.said }
        }),
    })
    await w.stoa.ready()
    const hostile = [
      `'); DROP TABLE stoa_inbox; --`,
      '$s0$; DROP TABLE stoa_inbox; --',
      'tail $s0',
      '$s0$$s1$ $s2$',
      `\\' E'\\x00`,
      'ключ 🔑',
    ]
    for (const emit of [false, true]) {
      for (const [i, k] of hostile.entries()) {
        const key = emit ? `${k} (emitting)` : k
        const said = `${key} / ${i}`
        expect(await w.stoa.act('role:tally,cmd:echo', { said, emit }, { id: key })).to.deep.equal({ said })
        // The repeat finds the very key, and answers with the first result.
        expect(await w.stoa.act('role:tally,cmd:echo', { said: 'again', emit }, { id: key })).to.deep.equal({ said })
      }
    }
    expect(runs).to.equal(hostile.length * 2)
    await w.stoa.act('role:tally,cmd:echo', { said: 'nul' }, { id: 'a\u0000b' }).then(
      () => expect.fail('a NUL cannot be stored in a text key'),
      (err: StoaError) => expect(err.code).to.equal('INVALID_MESSAGE'),
    )
  })
})
