import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import type { Context, Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import postgres from '../../../plugins/postgres/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const SERVICE = fileURLToPath(new URL('../../fixtures/postgres/outbox-service.ts', import.meta.url))

/** Starts the outbox service; resolves with the process and the line it printed once ready. */
function run(env: Record<string, string>): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVICE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d) => {
    err += String(d)
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d) => {
      out += String(d)
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({ child, line: out.slice(0, nl) })
    })
    child.once('exit', (code) => reject(new Error(`the service exited (${code}): ${err}`)))
  })
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const gone = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGKILL')
  return gone
}

/**
 * The process is SIGKILLed between the commit and the publish (its relay paused): the task is
 * in the outbox, nothing is on the broker. Started again, the relay publishes it; the
 * consumer's idempotent effect happens once. On PostgreSQL and on PGlite.
 */
describe('postgres plugin: SIGKILL between commit and publish', function () {
  this.timeout(180_000)
  const children: ChildProcess[] = []
  const started: Stoa<any>[] = []
  // One database per service: the gateway's, and the tally's own.
  let db: TestDatabase
  let tallyDb: TestDatabase
  let prefix: string

  beforeEach(async () => {
    db = await createTestDatabase('st')
    tallyDb = await createTestDatabase('st')
    prefix = `st.${randomBytes(4).toString('hex')}`
  })
  afterEach(async () => {
    for (const c of children.splice(0)) await kill(c)
    for (const s of started.splice(0).reverse()) await s.close()
    await deleteTopology(prefix, ['tally']).catch(() => undefined)
    await db.drop()
    await tallyDb.drop()
  })

  /** The tally consumer: counts each vote in its own database, idempotently. */
  async function consumer(): Promise<{ effects: () => Promise<{ voter: string; times: number }[]>; ids: string[] }> {
    const ids: string[] = []
    const tally = createStoa({ name: 'tally', logger: quietLogger() }).use(postgres, {
      url: tallyDb.url,
      migrations: [
        {
          version: 1,
          name: 'tally',
          sql: 'CREATE TABLE IF NOT EXISTS tally_votes (voter text PRIMARY KEY, times int)',
        },
      ],
    })
    tally
      .add('task:tally.vote.record', {
        idempotent: true,
        handler: (msg: Record<string, unknown>, ctx: Context) =>
          tally.handleOf(postgres).transaction(ctx, async (tx) => {
            ids.push(ctx.id)
            await tx.query(
              'INSERT INTO tally_votes (voter, times) VALUES ($1, 1) ON CONFLICT (voter) DO UPDATE SET times = tally_votes.times + 1',
              [msg.voter],
            )
          }),
      })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix }))
    started.push(tally)
    await tally.ready()
    return {
      ids,
      effects: async () =>
        (
          await tally
            .handleOf(postgres)
            .db.query<{ voter: string; times: number }>('SELECT voter, times FROM tally_votes')
        ).rows,
    }
  }

  for (const where of ['PostgreSQL', 'PGlite'] as const) {
    it(`publishes after the restart what was committed before the kill, and the effect happens once (${where})`, async () => {
      const tally = await consumer()
      const dataDir = mkdtempSync(join(tmpdir(), 'st-crash-'))
      try {
        const env: Record<string, string> =
          where === 'PostgreSQL'
            ? { DATABASE_URL: db.url, ST_AMQP_PREFIX: prefix, ST_AMQP_URL: AMQP_URL }
            : { ST_DATA_DIR: dataDir, ST_AMQP_PREFIX: prefix, ST_AMQP_URL: AMQP_URL }
        const first = await run({ ...env, ST_MODE: 'commit', ST_VOTER: 'ada' })
        children.push(first.child)
        expect(first.line).to.equal('committed vote-ada')
        await kill(first.child)
        await settle(500)
        expect(tally.ids, 'published before the kill').to.deep.equal([])

        const second = await run({ ...env, ST_MODE: 'relay' })
        children.push(second.child)
        expect(second.line).to.equal('relaying')
        await waitFor(() => tally.ids.length >= 1, 'the task published after the restart', 60_000)
        await settle(500)
        expect(tally.ids).to.deep.equal(['vote-ada'])
        expect(await tally.effects()).to.deep.equal([{ voter: 'ada', times: 1 }])
      } finally {
        rmSync(dataDir, { recursive: true, force: true })
      }
    })
  }
})
