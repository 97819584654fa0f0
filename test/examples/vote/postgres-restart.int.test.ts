import { randomUUID } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import { createAmqpTransport } from 'stoa/amqp'
import { tallyService } from '../../../examples/vote/services/tally.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'
import type { OwnPostgres } from './own-postgres.js'
import { postgresBin, startOwnPostgres } from './own-postgres.js'

/** A retry budget a few failed tries exhaust: any try the outage counted would dead-letter. */
const RETRY = { attempts: 2, backoffMs: 50, maxBackoffMs: 100 }

/** Polls `check` until it holds, at most `timeoutMs`. */
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * The tally worker while its database goes away: a PostgreSQL server of this test's own is
 * stopped (`pg_ctl stop -m fast`, which terminates every session, transactions in flight
 * included) while votes keep arriving, then started again. The worker must stay up, say it is
 * not ready, leave the tasks in their queue without spending their tries, and count every vote
 * once the database is back, by itself.
 */
describe('examples/vote tally worker across a PostgreSQL restart', function () {
  this.timeout(180_000)
  const prefix = uniquePrefix('voteops-pg')
  const bin = postgresBin()
  let server: OwnPostgres | undefined
  let worker: Stoa<any> | undefined
  let gateway: Stoa<any> | undefined
  let db: pg.Client | undefined

  before(async function () {
    if (bin === undefined) return this.skip()
    server = await startOwnPostgres(bin)
  })
  after(async () => {
    await gateway?.close()
    await worker?.close()
    await db?.end().catch(() => undefined)
    await server?.remove()
    await deleteTopology(prefix, ['tally'], RETRY).catch(() => undefined)
  })

  it('survives, reports not ready, holds the tasks back uncounted and counts every vote once it is back', async () => {
    const url = server!.url
    worker = tallyService({ url, poolSize: 4 })
      .create({ logger: quietLogger() })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, prefetch: 10, ...RETRY }))
    await worker.ready()
    gateway = createStoa({ name: 'gateway', logger: quietLogger(), timeoutMs: 30_000 }).client(
      createAmqpTransport({ url: AMQP_URL, prefix }),
    )
    await gateway.ready()

    const confirmed = new Set<string>()
    let i = 0
    let sending = true
    const vote = async () => {
      const v = { voteId: randomUUID(), voter: `voter-${i++ % 50}`, choice: 'cats', acceptedAt: Date.now() }
      await gateway!.send('tally.vote.record', v)
      confirmed.add(v.voteId)
    }
    const loop = async () => {
      while (sending) {
        await vote()
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    const loops = [loop(), loop(), loop()]
    const recorded = async () => {
      db ??= await (async () => {
        const c = new pg.Client({ connectionString: url })
        await c.connect()
        c.on('error', () => undefined)
        return c
      })()
      const { rows } = await db.query<{ vote_id: string }>('SELECT vote_id FROM votes')
      return new Set(rows.map((r) => r.vote_id))
    }
    const ready = async () => (await worker!.readiness()).ready

    await until(async () => (await recorded()).size >= 30, 'the first votes to be counted')
    await db!.end()
    db = undefined

    await server!.stop()
    await until(async () => !(await ready()), 'the worker to report not ready')
    const atStop = confirmed.size
    // Votes keep being accepted while the database is away; they wait in the queue.
    await until(() => confirmed.size >= atStop + 60, 'votes accepted during the outage')
    expect(await ready(), 'ready while the database is down').to.equal(false)
    await server!.start()

    await until(ready, 'the worker to be ready again')
    const afterStart = confirmed.size
    await until(() => confirmed.size >= afterStart + 30, 'votes accepted after the restart')
    sending = false
    await Promise.all(loops)
    await until(async () => {
      const have = await recorded()
      return [...confirmed].every((id) => have.has(id))
    }, 'every confirmed vote to be counted')

    const raw = await rawChannel()
    try {
      const dead = await raw.ch.checkQueue(names(prefix).dlq('tally')).then((q) => q.messageCount)
      expect(dead, 'votes dead-lettered').to.equal(0)
    } finally {
      await raw.close()
    }
    const { rows } = await db!.query<{ n: string }>('SELECT count(*) AS n FROM votes')
    expect(Number(rows[0]!.n), 'votes recorded, each once').to.equal(confirmed.size)
  })
})
