import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { expect } from 'chai'
import pg from 'pg'
import type { Cluster } from '../../../examples/vote/cluster.js'
import { startCluster } from '../../../examples/vote/cluster.js'
import { AMQP_URL } from '../../fixtures/amqp-broker.js'
import type { OwnNatsServer } from '../../fixtures/nats-cluster.js'
import { startNatsServer } from '../../fixtures/nats-cluster.js'
import { rawConnection, uniquePrefix } from '../../fixtures/nats-server.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { runVoteChaos } from '../../helpers/vote-chaos.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECRET = randomBytes(32).toString('base64url')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('examples/vote chaos on NATS: workers killed, the server restarted, every 202 counted once', function () {
  this.timeout(300_000)
  const prefix = uniquePrefix('vote')
  const database = `nx_vote_chaos_${randomBytes(4).toString('hex')}`
  // Its own server, since the test restarts it: the shared one on 4222 is never touched.
  let nats: OwnNatsServer | undefined
  const admin = new pg.Client({ connectionString: PG_URL })
  let cluster: Cluster | undefined
  const output: string[] = []

  let nginx: string | undefined

  before(async function () {
    // The cluster puts nginx in front of its gateways.
    nginx = requireProgram(this, PROGRAMS.nginx)
    nats = await startNatsServer(prefix)
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
  })
  after(async () => {
    // Skipped before connecting: nothing to clean up.
    if (nginx === undefined) return
    await cluster?.stop(5000)
    // The server and its store are this test's own: stopping it removes every stream.
    await nats?.close()
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('2 gateways behind nginx, 3 workers: 6,000 votes from 1,000 voters', async () => {
    const dbUrl = new URL(PG_URL)
    dbUrl.pathname = `/${database}`
    cluster = await startCluster({
      gateways: 2,
      workers: 3,
      port: 0,
      amqpUrl: AMQP_URL,
      broker: 'nats',
      natsUrl: nats!.url,
      databaseUrl: dbUrl.toString(),
      prefix,
      jwtSecret: SECRET,
      log: (name, line) => output.push(`[${name}] ${line}`),
    })
    const { accepted } = await runVoteChaos({
      cluster,
      databaseUrl: dbUrl.toString(),
      jwtSecret: SECRET,
      // Smaller than the AMQP run: the whole test stays within two minutes on a shared machine.
      voters: 1000,
      votes: 6000,
      kills: 3,
      // SIGKILLs the NATS server and starts it again on its port and store, as a crash and a restart would.
      disrupt: async () => {
        await nats!.kill()
        await sleep(1000)
        await nats!.start()
        return 1
      },
      disruption: 'server restarts',
      deadLetters: async () => {
        const nc = await rawConnection(nats!.url)
        try {
          const jsm = await jetstreamManager(nc)
          return await jsm.streams.info(`${prefix}_dlq_tally`).then(
            (i) => i.state.messages,
            () => 0,
          )
        } finally {
          await nc.close()
        }
      },
      output,
    })
    // Every vote went through this server's task stream (stored once each, whatever was redelivered).
    const nc = await rawConnection(nats!.url)
    try {
      const jsm = await jetstreamManager(nc)
      const stored = await jsm.streams.info(`${prefix}_tasks_tally`).then((i) => i.state.last_seq)
      expect(stored, 'tasks stored in the NATS stream').to.be.at.least(accepted)
    } finally {
      await nc.close()
    }
  })
})
