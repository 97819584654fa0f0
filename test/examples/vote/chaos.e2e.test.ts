import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Cluster } from '../../../examples/vote/cluster.js'
import { startCluster } from '../../../examples/vote/cluster.js'
import { AMQP_URL, deleteTopology, dropConnections, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { runVoteChaos } from '../../helpers/vote-chaos.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECRET = randomBytes(32).toString('base64url')

describe('examples/vote chaos: workers killed, connections dropped, every 202 counted once', function () {
  this.timeout(360_000)
  const prefix = uniquePrefix('vote')
  const database = `vote_chaos_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  let cluster: Cluster | undefined
  const output: string[] = []

  let nginx: string | undefined

  before(async function () {
    // The cluster puts nginx in front of its gateways.
    nginx = requireProgram(this, PROGRAMS.nginx)
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
  })
  after(async () => {
    // Skipped before connecting: nothing to clean up.
    if (nginx === undefined) return
    await cluster?.stop(5000)
    await deleteTopology(prefix, ['tally', 'auth', 'results', 'vote']).catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('2 gateways behind nginx, 3 workers: 10,000 votes from 1,500 voters', async () => {
    const dbUrl = new URL(PG_URL)
    dbUrl.pathname = `/${database}`
    cluster = await startCluster({
      gateways: 2,
      workers: 3,
      port: 0,
      amqpUrl: AMQP_URL,
      databaseUrl: dbUrl.toString(),
      prefix,
      jwtSecret: SECRET,
      log: (name, line) => output.push(`[${name}] ${line}`),
    })
    await runVoteChaos({
      cluster,
      databaseUrl: dbUrl.toString(),
      jwtSecret: SECRET,
      voters: 1500,
      votes: 10_000,
      kills: 4,
      disrupt: () => dropConnections(prefix),
      disruption: 'connections dropped',
      deadLetters: async () => {
        const raw = await rawChannel()
        try {
          return await raw.ch.checkQueue(`${prefix}.dlq.tally`).then((q) => q.messageCount)
        } finally {
          await raw.close()
        }
      },
      output,
    })
  })
})
