import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Context, Stoa } from '../../../actions/index.js'
import { createStoa, ERRORS } from '../../../actions/index.js'
import postgres from '../../../plugins/postgres/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import type { OwnPostgres } from '../../examples/vote/own-postgres.js'
import { postgresBin, startOwnPostgres } from '../../examples/vote/own-postgres.js'
import { AMQP_URL, deleteTopology, rawChannel } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const OUTAGE_MS = 20_000
const TASKS = 240
/** One try, no retry: any try the outage were counted as would dead-letter its task. */
const RETRY = { attempts: 1, backoffMs: 100, maxBackoffMs: 200 }

/**
 * A worker on RabbitMQ whose PostgreSQL (a server of this test's own) stops for 20 s while
 * tasks flow: it holds its intake (not ready, consumers cancelled), the tasks it was running
 * go back to the queue uncounted, nothing is dead-lettered, and once the database is back
 * every task has its effect exactly once.
 */
describe('postgres plugin: a 20 s database outage while tasks flow on RabbitMQ', function () {
  this.timeout(240_000)
  const bin = postgresBin()
  const prefix = `st.${randomBytes(4).toString('hex')}`
  let own: OwnPostgres | undefined
  const started: Stoa<any>[] = []

  before(function () {
    if (bin === undefined) this.skip()
  })
  after(async () => {
    for (const s of started.splice(0).reverse()) await s.close().catch(() => undefined)
    await own?.remove()
    await deleteTopology(prefix, ['tally'], RETRY).catch(() => undefined)
  })

  it('holds intake, dead-letters nothing, and records every task once after recovery', async () => {
    own = await startOwnPostgres(bin!, 'st-pg-')
    const logger = quietLogger()
    const worker = createStoa({ name: 'tally', logger, timeoutMs: 120_000 }).use(postgres, {
      url: own.url,
      probeMs: 200,
      connectTimeoutMs: 2000,
      migrations: [
        { version: 1, name: 'effects', sql: 'CREATE TABLE effects (n int PRIMARY KEY, times int NOT NULL)' },
      ],
    })
    const pg = () => worker.handleOf(postgres)
    worker.add('task:tally.vote.record', {
      idempotent: true,
      handler: (msg: Record<string, unknown>, ctx: Context) =>
        pg().transaction(ctx, async (tx) => {
          await tx.query(
            'INSERT INTO effects (n, times) VALUES ($1, 1) ON CONFLICT (n) DO UPDATE SET times = effects.times + 1',
            [msg.n],
          )
          // Some work inside the transaction, so that the stop finds transactions open.
          await tx.query('SELECT pg_sleep(0.1)')
        }),
    })
    // The gateway side of an outbox on the same database: a write that cannot commit answers
    // UNAVAILABLE (HTTP 503), never an acceptance.
    worker.add('role:vote,cmd:cast', (msg, ctx) =>
      pg().transaction(ctx, async (tx) => {
        await tx.query('INSERT INTO effects (n, times) VALUES ($1, 1)', [msg.n])
        await tx.send('tally.vote.record', { n: msg.n })
        return { accepted: true }
      }),
    )
    worker.listen(createAmqpTransport({ url: AMQP_URL, prefix, prefetch: 20, ...RETRY }))
    const sender = createStoa({ name: 'gateway', logger: quietLogger(), timeoutMs: 120_000 }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }),
    )
    started.push(sender, worker)
    await worker.ready()
    await sender.ready()

    // Tasks go on being sent, one every 20 ms, through the whole outage.
    let sent = 0
    const sending = (async () => {
      for (; sent < TASKS; sent++) {
        await sender.send('tally.vote.record', { n: sent })
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const count = async () =>
      Number((await pg().db.query<{ n: string }>('SELECT count(*)::text AS n FROM effects')).rows[0]!.n)
    await waitFor(() => sent >= 40, 'tasks flowing', 60_000)

    await own.stop()
    const stoppedAt = Date.now()
    const refused = await worker.act('role:vote,cmd:cast', { n: 100_000 }).catch((e: unknown) => e)
    expect(refused).to.have.property('code', 'UNAVAILABLE')
    expect(ERRORS.UNAVAILABLE.http).to.equal(503)
    const readyDuring: boolean[] = []
    const consumersDuring: number[] = []
    const raw = await rawChannel()
    try {
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        readyDuring.push((await worker.readiness()).ready)
        consumersDuring.push((await raw.ch.checkQueue(names(prefix).tasks('tally'))).consumerCount)
        await new Promise((r) => setTimeout(r, 500))
      }
    } finally {
      await raw.close()
    }
    await own.start()
    await sending
    const until = Date.now() + 90_000
    let done = 0
    while (Date.now() < until) {
      done = await count().catch(() => 0)
      if (done >= TASKS) break
      await new Promise((r) => setTimeout(r, 250))
    }

    // Not ready through the outage (after the first look noticed it).
    expect(readyDuring.slice(4)).to.not.include(true)
    // Consumption stopped: the broker kept the tasks rather than the worker failing them in a loop.
    expect(consumersDuring.slice(4)).to.not.include(1)
    expect((await worker.readiness()).ready).to.equal(true)
    expect(done).to.equal(TASKS)
    const { rows } = await pg().db.query<{ times: number }>('SELECT times FROM effects WHERE times <> 1')
    expect(rows, 'a task whose effect happened twice').to.deep.equal([])
    const check = await rawChannel()
    try {
      const dlq = await check.ch.checkQueue(names(prefix).dlq('tally'))
      expect(dlq.messageCount, 'dead-lettered').to.equal(0)
    } finally {
      await check.close()
    }
    expect(logger.entries.some((e) => e.message === 'postgres: database lost; holding intake')).to.equal(true)
  })
})
