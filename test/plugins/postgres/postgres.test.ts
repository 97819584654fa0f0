import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import type { Context, Identity, Stoa } from '../../../actions/index.js'
import { batchAction, createStoa, StoaError } from '../../../actions/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import metrics from '../../../plugins/metrics/index.js'
import postgres, { isConflict, isConnectionError, isRetryableDatabaseError } from '../../../plugins/postgres/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const SECRET = 'st-user-secret-0123456789-0123456789'
const DELEGATION = 'st-delegation-secret-0123456789-0123456789'
const VOTES = [{ version: 1, name: 'votes', sql: 'CREATE TABLE votes (voter text PRIMARY KEY, choice text NOT NULL)' }]

/** What a task handler saw of one delivery. */
interface Seen {
  msg: Record<string, unknown>
  id: string
  trace: string
  deadline: number
  token: string | undefined
  identity: Identity | undefined
}

describe('postgres plugin on PGlite', function () {
  this.timeout(60_000)
  const started: Stoa<any>[] = []
  const dirs: string[] = []
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'st-pglite-'))
    dirs.push(d)
    return d
  }
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
  })

  it('opens PGlite in a directory whose parents do not exist yet, as on a fresh clone', async () => {
    const dataDir = join(tempDir(), 'not', 'yet', 'svc')
    const stoa = createStoa({ name: 'svc', logger: quietLogger() }).use(postgres, { dataDir })
    started.push(stoa)
    await stoa.ready()
    const { rows } = await stoa.handleOf(postgres).db.query<{ one: number }>('SELECT 1 AS one')
    expect(rows).to.deep.equal([{ one: 1 }])
  })
  it('starts a second new database of the process from a bare cluster: nothing of the first is in it, and what it commits stays', async () => {
    const first = createStoa({ name: 'one', logger: quietLogger() }).use(postgres, {
      dataDir: tempDir(),
      migrations: VOTES,
    })
    started.push(first)
    await first.ready()
    await first.handleOf(postgres).db.query(`INSERT INTO votes VALUES ('v1', 'a')`)
    const dataDir = join(tempDir(), 'two')
    const open = async () => {
      const s = createStoa({ name: 'two', logger: quietLogger() }).use(postgres, { dataDir })
      started.push(s)
      await s.ready()
      return s
    }
    const second = await open()
    const { rows } = await second
      .handleOf(postgres)
      .db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'votes'`)
    expect(rows).to.deep.equal([{ n: 0 }])
    await second.handleOf(postgres).db.exec('CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)')
    await second.close()
    const again = await open()
    expect((await again.handleOf(postgres).db.query('SELECT x FROM kept')).rows).to.deep.equal([{ x: 7 }])
  })
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  /** A tally worker on a memory bus recording what it is sent, and a gateway with the plugin. */
  function pair(opts: { relayPaused?: boolean; jwt?: boolean } = {}) {
    const bus = createMemoryBus()
    const seen: Seen[] = []
    const events: Record<string, unknown>[] = []
    const worker = createStoa({ name: 'tally', logger: quietLogger() })
    if (opts.jwt) worker.use(jwt, { secret: SECRET, delegation: { secret: DELEGATION } })
    worker
      .add('task:tally.vote.record', (msg: Record<string, unknown>, ctx: Context) => {
        seen.push({
          msg,
          id: ctx.id,
          trace: ctx.trace,
          deadline: ctx.deadline,
          token: ctx.token,
          identity: ctx.identity,
        })
      })
      .on('vote.counted', (msg) => {
        events.push(msg)
      })
      .listen(createMemoryTransport({ bus }))
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() })
    if (opts.jwt) gateway.use(jwt, { secret: SECRET, delegation: { secret: DELEGATION } })
    gateway
      .use(metrics)
      .use(postgres, { dataDir: 'memory://', migrations: VOTES, relay: { paused: opts.relayPaused ?? false } })
      .client(createMemoryTransport({ bus }))
    const pg = () => gateway.handleOf(postgres)
    gateway.add('role:vote,cmd:cast', (msg, ctx) =>
      pg().transaction(ctx, async (tx) => {
        await tx.query('INSERT INTO votes (voter, choice) VALUES ($1, $2)', [msg.voter, msg.choice])
        await tx.send('tally.vote.record', { voter: msg.voter })
        await tx.emit('vote.counted', { voter: msg.voter })
        if (msg.fail === true) throw new StoaError('INVALID_MESSAGE', 'refused after the writes')
        return { accepted: msg.voter }
      }),
    )
    started.push(worker, gateway)
    return { worker, gateway, seen, events, pg }
  }

  describe('the outbox', () => {
    it('publishes a committed transaction’s task and event after the commit, with the id, trace and deadline ctx.send gives', async () => {
      const { worker, gateway, seen, events, pg } = pair({ relayPaused: true })
      await worker.ready()
      await gateway.ready()
      gateway.add('role:vote,cmd:outer', async (msg, ctx) => {
        await ctx.act('role:vote,cmd:cast', { voter: msg.voter, choice: 'cats' })
        return { trace: ctx.trace, deadline: ctx.deadline }
      })
      const outer = (await gateway.act('role:vote,cmd:outer', { voter: 'v1' }, { timeoutMs: 20_000 })) as {
        trace: string
        deadline: number
      }
      // Committed, not yet published: the row waits in the outbox.
      await settle(100)
      expect(seen).to.have.length(0)
      expect((await pg().outbox()).depth).to.equal(2)
      expect(await pg().relay.flush()).to.equal(2)
      await waitFor(() => seen.length === 1 && events.length === 1, 'the task and the event')
      expect(seen[0]!.msg).to.deep.equal({ voter: 'v1' })
      expect(seen[0]!.trace).to.equal(outer.trace)
      // The relay sends with what is left of the deadline, re-read from the clock: a tick may add 1 ms.
      expect(seen[0]!.deadline).to.be.at.most(outer.deadline + 2)
      expect(seen[0]!.deadline).to.be.above(Date.now())
      expect((await pg().outbox()).depth).to.equal(0)
    })

    it('commits a batch in one transaction, each delivery’s event carrying its own trace (tx.of)', async () => {
      const bus = createMemoryBus({ tasks: 'handled' })
      const traces: Record<string, string> = {}
      const txids = new Set<string>()
      const worker = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, {
        dataDir: 'memory://',
        migrations: VOTES,
      })
      worker
        .add(
          'task:tally.vote.record',
          batchAction({
            batch: { max: 3, waitMs: 5000 },
            handler: (items) =>
              worker.handleOf(postgres).transaction(undefined, async (tx) => {
                for (const { msg, ctx } of items) {
                  const { rows } = await tx.query<{ tx: string }>(
                    'INSERT INTO votes (voter, choice) VALUES ($1, $2) RETURNING txid_current()::text AS tx',
                    [msg.voter, 'cats'],
                  )
                  txids.add(rows[0]!.tx)
                  await tx.of(ctx).emit('vote.counted', { voter: msg.voter })
                }
              }),
          }),
        )
        .on('vote.counted', (msg, ctx) => {
          traces[String(msg.voter)] = ctx.trace
        })
        .listen(createMemoryTransport({ bus }))
        .client(createMemoryTransport({ bus }))
      const gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(createMemoryTransport({ bus }))
      started.push(worker, gateway)
      await Promise.all([worker.ready(), gateway.ready()])
      await Promise.all(
        ['a', 'b', 'c'].map((voter) => gateway.send('tally.vote.record', { voter }, { trace: `t-${voter}` })),
      )
      await waitFor(() => Object.keys(traces).length === 3, 'the three events')
      expect(txids.size).to.equal(1)
      expect(traces).to.deep.equal({ a: 't-a', b: 't-b', c: 't-c' })
    })

    it('sends nothing for a rolled-back transaction, and keeps none of its rows', async () => {
      const { worker, gateway, seen, events, pg } = pair()
      await worker.ready()
      await gateway.ready()
      const err = await gateway.act('role:vote,cmd:cast', { voter: 'v2', choice: 'dogs', fail: true }).catch((e) => e)
      expect(err).to.be.instanceOf(StoaError).with.property('code', 'INVALID_MESSAGE')
      await pg().relay.flush()
      await settle(100)
      expect(seen).to.have.length(0)
      expect(events).to.have.length(0)
      expect((await pg().db.query('SELECT * FROM votes')).rows).to.have.length(0)
      expect((await pg().outbox()).depth).to.equal(0)
    })

    it('wakes the relay at commit: an unpaused relay publishes without a flush', async () => {
      const { worker, gateway, seen } = pair()
      await worker.ready()
      await gateway.ready()
      await gateway.act('role:vote,cmd:cast', { voter: 'v3', choice: 'cats' })
      await waitFor(() => seen.length === 1, 'the task relayed', 10_000)
    })

    it('carries the identity: a task sent for a user arrives with a delegation token for that user', async () => {
      const { worker, gateway, seen } = pair({ jwt: true, relayPaused: true })
      await worker.ready()
      await gateway.ready()
      const token = signToken({ sub: 'u42', roles: ['user-client'] }, { secret: SECRET, expiresInSec: 600 })
      await gateway.act('role:vote,cmd:cast', { voter: 'v4', choice: 'cats' }, { token })
      await gateway.handleOf(postgres).relay.flush()
      await waitFor(() => seen.length === 1, 'the task relayed')
      expect(seen[0]!.identity?.sub).to.equal('u42')
      expect(seen[0]!.token).to.be.a('string').and.not.equal(token)
      const header = JSON.parse(Buffer.from(seen[0]!.token!.split('.')[0]!, 'base64url').toString()) as { typ: string }
      expect(header.typ).to.equal('stoa-delegation+jwt')
    })

    it('counts the outbox depth, its lag and the pool in the metrics plugin’s scrape', async () => {
      const { worker, gateway } = pair({ relayPaused: true })
      await worker.ready()
      await gateway.ready()
      await gateway.act('role:vote,cmd:cast', { voter: 'v5', choice: 'cats' })
      const { text } = (await gateway.act('role:metrics,cmd:scrape')) as { text: string }
      expect(text).to.match(/stoa_outbox_depth\{service="gateway"\} 2/)
      expect(text).to.match(/stoa_outbox_lag_seconds\{service="gateway"\} \d/)
      expect(text).to.match(/stoa_db_pool_connections\{service="gateway"\} 1/)
    })

    it('refuses a bad task name in the transaction, before anything commits', async () => {
      const { worker, gateway, pg } = pair()
      await worker.ready()
      await gateway.ready()
      const err = await pg()
        .transaction(undefined, async (tx) => {
          await tx.query("INSERT INTO votes (voter, choice) VALUES ('v6', 'cats')")
          await tx.send('not a task')
        })
        .catch((e) => e)
      expect(err).to.be.instanceOf(StoaError).with.property('code', 'INVALID_NAME')
      expect((await pg().db.query('SELECT * FROM votes')).rows).to.have.length(0)
    })
  })

  describe('idempotent actions', () => {
    function counter() {
      const stoa = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, {
        dataDir: 'memory://',
        migrations: [{ version: 1, name: 'counts', sql: 'CREATE TABLE counts (k text PRIMARY KEY, n int NOT NULL)' }],
      })
      const pg = () => stoa.handleOf(postgres)
      const bump = (msg: Record<string, unknown>, ctx: Context) =>
        pg().transaction(ctx, async (tx) => {
          const { rows } = await tx.query<{ n: number }>(
            'INSERT INTO counts (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = counts.n + 1 RETURNING n',
            [msg.k],
          )
          return { n: rows[0]!.n, at: Math.random() }
        })
      stoa
        .add('role:count,cmd:bump', { idempotent: true, handler: bump })
        .add('role:count,cmd:keyed', { idempotent: { key: (msg) => String(msg.ref) }, handler: bump })
        .add('task:tally.count.bump', { idempotent: true, handler: bump })
        .add('role:count,cmd:plain', bump)
      started.push(stoa)
      const count = async (k: string) =>
        (await pg().db.query<{ n: number }>('SELECT n FROM counts WHERE k = $1', [k])).rows[0]?.n ?? 0
      return { stoa, pg, count }
    }

    it('an act repeated with the same message id has its effect once and gets the first result', async () => {
      const { stoa, count } = counter()
      await stoa.ready()
      const first = await stoa.act('role:count,cmd:bump', { k: 'a' }, { id: 'm-1' })
      const again = await stoa.act('role:count,cmd:bump', { k: 'a' }, { id: 'm-1' })
      expect(again).to.deep.equal(first)
      expect(await count('a')).to.equal(1)
      await stoa.act('role:count,cmd:bump', { k: 'a' }, { id: 'm-2' })
      expect(await count('a')).to.equal(2)
      // Without the declaration, the same id counts twice.
      await stoa.act('role:count,cmd:plain', { k: 'b' }, { id: 'm-3' })
      await stoa.act('role:count,cmd:plain', { k: 'b' }, { id: 'm-3' })
      expect(await count('b')).to.equal(2)
    })

    it('keys a call by its Idempotency-Key header, or by the action’s own key', async () => {
      const { stoa, count } = counter()
      await stoa.ready()
      const headers = { 'idempotency-key': 'order-7' }
      await stoa.act('role:count,cmd:bump', { k: 'h' }, { headers })
      await stoa.act('role:count,cmd:bump', { k: 'h' }, { headers })
      expect(await count('h')).to.equal(1)
      await stoa.act('role:count,cmd:keyed', { k: 'r', ref: 1 })
      await stoa.act('role:count,cmd:keyed', { k: 'r', ref: 1 })
      await stoa.act('role:count,cmd:keyed', { k: 'r', ref: 2 })
      expect(await count('r')).to.equal(2)
    })

    it('refuses a batched action declared idempotent, at start, naming it', async () => {
      const stoa = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, { dataDir: 'memory://' })
      started.push(stoa)
      const err = (() => {
        try {
          stoa.add('task:tally.count.bump', {
            ...batchAction({ batch: { max: 2, waitMs: 5 }, handler: () => undefined }),
            idempotent: true,
          })
        } catch (e) {
          return e as StoaError
        }
      })()
      expect(err?.code).to.equal('INVALID_OPTIONS')
      expect(err?.details).to.deep.include({ pattern: 'task:tally.count.bump', fields: ['idempotent'] })
    })

    it('a task delivered again is acknowledged without running', async () => {
      const bus = createMemoryBus()
      const { stoa, count } = counter()
      stoa.listen(createMemoryTransport({ bus }))
      const sender = createStoa({ name: 'sender', logger: quietLogger() }).client(createMemoryTransport({ bus }))
      started.push(sender)
      await stoa.ready()
      await sender.ready()
      for (let i = 0; i < 3; i++) await sender.send('tally.count.bump', { k: 't' }, { id: 'task-1' })
      await sender.send('tally.count.bump', { k: 't' }, { id: 'task-2' })
      await settle(300)
      expect(await count('t')).to.equal(2)
    })

    it('an event delivered again to an idempotent subscriber changes nothing; each subscriber once', async () => {
      const bus = createMemoryBus()
      const { stoa, pg, count } = counter()
      const heard: string[] = []
      const bumpOn = (k: string) => (_msg: Record<string, unknown>, ctx: Context) =>
        pg().transaction(ctx, async (tx) => {
          heard.push(`${k} ${ctx.id}`)
          await tx.query('INSERT INTO counts (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = counts.n + 1', [k])
        })
      stoa.on('vote.recorded', bumpOn('e'), { idempotent: true })
      stoa.on('vote.recorded', bumpOn('f'), { idempotent: { key: (_msg, ctx) => `f/${ctx.id}` } })
      stoa.on('vote.recorded', bumpOn('g'))
      stoa.listen(createMemoryTransport({ bus }))
      const sender = createStoa({ name: 'sender', logger: quietLogger() }).client(createMemoryTransport({ bus }))
      started.push(sender)
      await stoa.ready()
      await sender.ready()
      for (let i = 0; i < 3; i++) await sender.emit('vote.recorded', { voter: 'v' }, { id: 'event-1' })
      await sender.emit('vote.recorded', { voter: 'v' }, { id: 'event-2' })
      await settle(300)
      expect(await count('e')).to.equal(2)
      expect(await count('f')).to.equal(2)
      // Not declared: each delivery counts, and it saw the event's id each time.
      expect(await count('g')).to.equal(4)
      expect(heard.filter((h) => h.startsWith('g '))).to.deep.equal([
        'g event-1',
        'g event-1',
        'g event-1',
        'g event-2',
      ])
    })

    it('refuses two subscribers of one event idempotent by its id alone, at start', async () => {
      const stoa = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, { dataDir: 'memory://' })
      started.push(stoa)
      stoa.on('vote.recorded', () => undefined, { idempotent: true })
      stoa.on('vote.recorded', () => undefined, { idempotent: { key: (_m, ctx) => `two/${ctx.id}` } })
      const err = (() => {
        try {
          stoa.on('vote.recorded', () => undefined, { idempotent: true })
        } catch (e) {
          return e as StoaError
        }
      })()
      expect(err?.code).to.equal('INVALID_OPTIONS')
      expect(err?.details).to.deep.include({ pattern: 'event:vote.recorded', fields: ['idempotent'] })
    })

    it('forgets a key after the retention: a repeat then runs again', async () => {
      const { stoa, pg, count } = counter()
      await stoa.ready()
      await stoa.act('role:count,cmd:bump', { k: 'x' }, { id: 'old' })
      await pg().db.query("UPDATE stoa_inbox SET created_at = now() - interval '8 days'")
      expect(await pg().expireInbox()).to.equal(1)
      await stoa.act('role:count,cmd:bump', { k: 'x' }, { id: 'old' })
      expect(await count('x')).to.equal(2)
    })

    it('a failed action leaves no key: the retry runs', async () => {
      const { stoa, pg, count } = counter()
      let fail = true
      stoa.add('role:count,cmd:flaky', {
        idempotent: true,
        handler: (msg: Record<string, unknown>, ctx: Context) =>
          pg().transaction(ctx, async (tx) => {
            await tx.query('INSERT INTO counts (k, n) VALUES ($1, 1)', [msg.k])
            if (fail) throw new Error('boom')
          }),
      })
      await stoa.ready()
      await stoa.act('role:count,cmd:flaky', { k: 'f' }, { id: 'f-1' }).catch(() => undefined)
      expect(await count('f')).to.equal(0)
      fail = false
      await stoa.act('role:count,cmd:flaky', { k: 'f' }, { id: 'f-1' })
      expect(await count('f')).to.equal(1)
    })
  })

  describe('migrations', () => {
    const start = async (dataDir: string, migrations: unknown) => {
      const stoa = createStoa({ name: 'svc', logger: quietLogger() }).use(postgres, { dataDir, migrations } as never)
      started.push(stoa)
      await stoa.ready()
      return stoa
    }

    it('applies numbered SQL files from a folder once, and says so in status', async () => {
      const data = tempDir()
      const folder = tempDir()
      writeFileSync(join(folder, '001_votes.sql'), 'CREATE TABLE votes (voter text PRIMARY KEY);')
      writeFileSync(join(folder, '002_choice.sql'), 'ALTER TABLE votes ADD COLUMN choice text;')
      const first = await start(data, folder)
      const status = await first.handleOf(postgres).migrations('status')
      expect(status).to.include({ current: 2, known: 2 })
      expect(status.pending).to.deep.equal([])
      expect(status.problems).to.deep.equal([])
      await first.close()
      writeFileSync(join(folder, '003_at.sql'), 'ALTER TABLE votes ADD COLUMN at bigint;')
      const second = await start(data, folder)
      expect((await second.handleOf(postgres).db.query('SELECT voter, choice, at FROM votes')).rows).to.deep.equal([])
      expect((await second.handleOf(postgres).migrations('status')).current).to.equal(3)
    })

    it('refuses to start on an applied step that was edited, naming it', async () => {
      const data = tempDir()
      await (await start(data, VOTES)).close()
      const edited = [{ ...VOTES[0]!, sql: `${VOTES[0]!.sql}; CREATE INDEX votes_choice ON votes (choice)` }]
      const err = await start(data, edited).catch((e) => e)
      expect(err).to.be.instanceOf(StoaError).with.property('code', 'SCHEMA_MISMATCH')
      expect(err.message).to.match(/migration 1 \(votes\) was edited/)
    })

    it('refuses to start on a database at a version the code does not know', async () => {
      const data = tempDir()
      const newer = [...VOTES, { version: 2, name: 'more', sql: 'CREATE TABLE more (id int)' }]
      await (await start(data, newer)).close()
      const err = await start(data, VOTES).catch((e) => e)
      expect(err).to.be.instanceOf(StoaError).with.property('code', 'SCHEMA_MISMATCH')
      expect(err.message).to.match(/migration 2 \(more\), which this code does not know/)
    })

    it('applies nothing of a failing step: the whole run is one transaction', async () => {
      const data = tempDir()
      const bad = [...VOTES, { version: 2, name: 'broken', sql: 'CREATE TABLE ok (id int); SELECT nope FROM nowhere' }]
      expect(await start(data, bad).catch((e) => e)).to.be.instanceOf(Error)
      const stoa = await start(data, [])
      expect((await stoa.handleOf(postgres).migrations('status')).current).to.equal(0)
      expect((await stoa.handleOf(postgres).db.query("SELECT to_regclass('votes')::text AS t")).rows[0]).to.deep.equal({
        t: null,
      })
    })

    it('refuses a migration file not named <number>_<name>.sql, and two steps of one version', async () => {
      const folder = tempDir()
      writeFileSync(join(folder, 'votes.sql'), 'SELECT 1')
      expect(await start('memory://', folder).catch((e) => e)).to.have.property('code', 'INVALID_OPTIONS')
      const twice = [VOTES[0]!, { ...VOTES[0]!, name: 'again' }]
      expect(await start('memory://', twice).catch((e) => e)).to.have.property('code', 'INVALID_OPTIONS')
    })
  })

  describe('outages', () => {
    it('registers a readiness check, and holding intake makes the instance not ready until released', async () => {
      const { gateway } = pair()
      await gateway.ready()
      const ready = await gateway.readiness()
      expect(ready.ready).to.equal(true)
      expect(ready.checks.map((c) => c.name)).to.include('postgres')
      gateway.pauseIntake('postgres', 'the database is unreachable')
      const held = await gateway.readiness()
      expect(held.ready).to.equal(false)
      expect(held.checks).to.deep.include({
        name: 'intake:postgres',
        ready: false,
        reason: 'the database is unreachable',
      })
      gateway.resumeIntake('postgres')
      expect((await gateway.readiness()).ready).to.equal(true)
    })

    it('classifies database errors: connection failures and conflicts are retryable, a statement’s own fault is not', () => {
      const pgError = (code: string) => Object.assign(new Error('x'), { code })
      expect(isConnectionError(pgError('ECONNREFUSED'))).to.equal(true)
      expect(isConnectionError(pgError('57P01'))).to.equal(true)
      expect(isConnectionError(pgError('08006'))).to.equal(true)
      expect(isConnectionError(new Error('Connection terminated unexpectedly'))).to.equal(true)
      expect(isConflict(pgError('40001'))).to.equal(true)
      expect(isConflict(pgError('40P01'))).to.equal(true)
      expect(isRetryableDatabaseError(pgError('23505'))).to.equal(false)
      expect(isRetryableDatabaseError(pgError('42P01'))).to.equal(false)
      expect(isRetryableDatabaseError(new Error('syntax'))).to.equal(false)
    })
  })
})
