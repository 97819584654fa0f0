import { PGlite } from '@electric-sql/pglite'
import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import postgres from '../../../plugins/postgres/index.js'
import type { Harness } from '../../../plugins/testing/index.js'
import { createHarness } from '../../../plugins/testing/index.js'

/*
 * The relay's sweep, its lease and its backoff count on the instance's clock: under the
 * virtual clock of stoa/testing, a row nobody announced is published when the test moves time
 * past a sweep, and a row whose publish failed comes back once its backoff has passed. Inbox
 * keys are dated and expired by it too, not by the database's now(): a repeat runs again once
 * the test has moved time past the retention and a sweep, and changes nothing before.
 */
describe('postgres plugin on the virtual clock: the outbox relay and the inbox follow the instance clock', function () {
  this.timeout(60_000)
  let db: PGlite
  let h: Harness

  before(async () => {
    db = await PGlite.create()
  })
  after(() => db?.close())
  afterEach(async () => {
    await h?.close()
    await db.exec('TRUNCATE stoa_outbox, stoa_inbox')
  })

  /** An orders service on the shared PGlite, with a relay sweeping every minute. */
  async function start(): Promise<string[]> {
    const shipped: string[] = []
    await h.start((o) => {
      const stoa = createStoa({ name: 'orders', ...o }).use(postgres, {
        pglite: db,
        relay: { sweepMs: 60_000, maxBackoffMs: 30_000 },
      })
      return stoa.add('task:orders.order.place', (msg, ctx) =>
        stoa.handleOf(postgres).transaction(ctx, (tx) => tx.send('shipping.parcel.ship', { order: msg.order })),
      )
    })
    await h.stub('shipping', {
      'task:shipping.parcel.ship': (msg) => void shipped.push(String(msg.order)),
    })
    return shipped
  }

  it('publishes a row nobody announced at the next sweep, when the clock is moved there', async () => {
    h = createHarness()
    const shipped = await start()
    // Committed behind the relay's back, as another instance's commit on PGlite is (no NOTIFY).
    await db.query(
      `INSERT INTO stoa_outbox (id, kind, name, data, meta, available_at)
       VALUES ('00000000-0000-4000-8000-000000000001', 'send', 'shipping.parcel.ship', '{"order":"o-1"}', '{"trace":"t"}', to_timestamp($1 / 1000.0))`,
      [h.clock.now()],
    )
    await h.advance('59s')
    expect(shipped, 'before the sweep').to.deep.equal([])
    await h.advance('1s')
    await h.settle()
    expect(shipped).to.deep.equal(['o-1'])
  })

  it('publishes again after its backoff on the clock when the broker lost the first confirm', async () => {
    h = createHarness({ faults: [{ fault: 'lose-confirm', name: 'shipping.parcel.ship', times: 1 }] })
    const shipped = await start()
    await h.send('orders.order.place', { order: 'o-2' })
    await h.settle('10s')
    // The broker took the first publish (its confirm was lost) and the relay put the row back.
    const { rows } = await db.query<{ attempts: number }>('SELECT attempts FROM stoa_outbox')
    expect(rows).to.deep.equal([{ attempts: 1 }])
    // The row is available again after its backoff; the sweep a minute on publishes it.
    await h.advance('60s')
    await h.settle()
    expect(shipped).to.deep.equal(['o-2', 'o-2'])
    expect((await db.query('SELECT 1 FROM stoa_outbox')).rows).to.deep.equal([])
  })

  it('runs a repeat again once the retention has passed on the clock and a sweep ran, not before', async () => {
    h = createHarness()
    let runs = 0
    await h.start((o) =>
      createStoa({ name: 'payments', ...o })
        .use(postgres, {
          pglite: db,
          relay: { sweepMs: 600_000 },
          inbox: { retentionMs: 3600_000, sweepMs: 600_000 },
        })
        .add('role:payments,cmd:charge', { idempotent: true, handler: () => ({ run: ++runs }) }),
    )
    const charge = () => h.act('role:payments,cmd:charge', { amount: 5 }, { id: 'charge-1' })
    expect(await charge()).to.deep.equal({ run: 1 })
    const { rows } = await db.query<{ ms: number }>(
      'SELECT (EXTRACT(EPOCH FROM created_at) * 1000)::float8 AS ms FROM stoa_inbox',
    )
    expect(rows.map((r) => Math.round(r.ms))).to.deep.equal([h.clock.now()])
    // Sweeps at 10, 20 ... 60 minutes: at 60 the key is exactly an hour old, not older.
    await h.advance('60m')
    await h.settle()
    expect(await charge()).to.deep.equal({ run: 1 })
    await h.advance('10m')
    await h.settle()
    expect(await charge()).to.deep.equal({ run: 2 })
    expect(runs).to.equal(2)
  })
})
