import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import type { Cluster } from '../../../examples/vote/cluster.js'
import { startCluster } from '../../../examples/vote/cluster.js'
import type { Network } from '../../fixtures/netns.js'
import { createNetwork, namespacesForbidden } from '../../fixtures/netns.js'
import type { RabbitCluster } from '../../fixtures/rabbit-cluster.js'
import { startRabbitCluster } from '../../fixtures/rabbit-cluster.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { expectCountedOnce, startVoters } from '../../helpers/vote-checks.js'
import { waitFor } from '../../helpers/wait.js'
import type { OwnPostgres } from './own-postgres.js'
import { postgresBin, startOwnPostgres } from './own-postgres.js'

const SECRET = randomBytes(32).toString('base64url')
const VOTERS = 500
const CONCURRENCY = 16
const CUT_MS = 10_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The distributed vote system on nine hosts: network namespaces on one bridge (made and removed
 * by the test, names of its own), the gateways on two, the tally workers on two, auth and results
 * on one, a three-node RabbitMQ cluster on three (one node each, named after its host, which every
 * host resolves; quorum queues) and PostgreSQL on one, nginx and the voters on this machine (the
 * bridge's address). The services are given all three nodes' URLs. Votes flow while one gateway host and one worker host are cut off
 * (`ip link set … down` on their links) for 10 s, then brought back: nginx sends the votes to the
 * other gateway meanwhile, the cut worker's unacknowledged tasks go to the other worker (the
 * broker drops the silent connection after its heartbeat, 2 s here; the database the silent
 * session after its keepalives, which releases the locks of its open transaction), the cut
 * services reconnect once back, and every 202 is counted exactly once.
 */
describe('examples/vote across network namespaces: a gateway host and a worker host cut off for 10 s', function () {
  this.timeout(180_000)
  const prefix = `netns_${randomBytes(4).toString('hex')}`
  let net: Network | undefined
  let rabbit: RabbitCluster | undefined
  let db: OwnPostgres | undefined
  let cluster: Cluster | undefined
  let store: pg.Client | undefined
  const output: string[] = []
  const t0 = Date.now()
  const say = (line: string) => process.stdout.write(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`)

  before(async function () {
    const forbidden = namespacesForbidden()
    if (forbidden !== undefined) {
      process.stdout.write(`  skipped "examples/vote across network namespaces": ${forbidden}\n`)
      return this.skip()
    }
    requireProgram(this, PROGRAMS.nginx)
    const bin = postgresBin()
    if (bin === undefined) {
      process.stdout.write(
        '  skipped "examples/vote across network namespaces": no PostgreSQL under /usr/lib/postgresql\n',
      )
      return this.skip()
    }
    net = await createNetwork(['gw1', 'gw2', 'wk1', 'wk2', 'svc', 'b1', 'b2', 'b3', 'db'])
    const { b1, b2, b3, db: dbHost } = net.hosts
    ;[rabbit, db] = await Promise.all([
      startRabbitCluster(3, 'netns', [b1!, b2!, b3!]),
      startOwnPostgres(bin, 'stoa-netns-pg-', dbHost!),
    ])
    const t = rabbit.timings
    const hostList = Object.values(net.hosts).map((h) => `${h.label} ${h.address}`)
    const nodeList = rabbit.nodes.map((n) => `${n.name} :${n.port}`)
    say(`hosts up: ${hostList.join(', ')}`)
    say(
      `RabbitMQ cluster up (boot ${t.boot} ms, joins ${t.join} ms, quorum check ${t.quorum} ms): ${nodeList.join(', ')}; PostgreSQL ${db.url}`,
    )
  })
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stdout.write(`${output.slice(-80).join('\n')}\n`)
  })
  after(async () => {
    await store?.end().catch(() => undefined)
    await cluster?.stop(5000)
    await rabbit?.close()
    await db?.remove()
    await net?.remove()
  })

  it('no accepted vote lost or counted twice; nginx and the broker route around the cut hosts; all reconnect', async () => {
    const hosts = net!.hosts
    const placeOf: Record<string, string> = {
      'gateway-1': 'gw1',
      'gateway-2': 'gw2',
      'tally-1': 'wk1',
      'tally-2': 'wk2',
      auth: 'svc',
      results: 'svc',
    }
    // Every node's URL, each with a 2 s heartbeat: the broker drops a cut-off consumer within
    // seconds and requeues what it held.
    const amqpUrl = rabbit!.nodes.map((n) => `${n.url}?heartbeat=2`).join(',')
    cluster = await startCluster({
      gateways: 2,
      workers: 2,
      port: 0,
      amqpUrl,
      queueType: 'quorum',
      databaseUrl: db!.url,
      prefix,
      jwtSecret: SECRET,
      place: (name) => hosts[placeOf[name]!],
      failover: true,
      log: (name, line) => {
        output.push(`[${name}] ${line}`)
        const m = /"msg":"(amqp: (connection lost|reconnected to a broker node)[^"]*)"/.exec(line)
        if (m !== null) say(`${name}: ${m[1]}`)
        if (name === 'cluster') say(line)
      },
    })
    say('vote system up')
    const voters = startVoters({
      url: cluster!.url,
      secret: SECRET,
      voters: VOTERS,
      concurrency: CONCURRENCY,
      // Past nginx's own 10 s answer timeout: nginx, not the voter, gives up on a cut gateway.
      timeoutMs: 15_000,
    })
    const { accepted, answeredAt, uncertain, others, until } = voters
    store = new pg.Client({ connectionString: db!.url })
    store.on('error', () => undefined)
    await store.connect()
    const recorded = async () =>
      new Set((await store!.query<{ vote_id: string }>('SELECT vote_id FROM votes')).rows.map((r) => r.vote_id))
    try {
      await until(200, 'before the cut')
      const before = accepted.size
      await Promise.all([hosts.gw1!.cut(), hosts.wk1!.cut()])
      const cutAt = Date.now()
      say(`cut gw1 (gateway-1) and wk1 (tally-1) off; ${before} 202s so far`)
      // While both are cut off the votes go on through gateway-2; the broker, having dropped
      // tally-1's silent connection, hands what tally-1 held unacknowledged, and every vote after,
      // to tally-2: each vote accepted up to 2 s before the end of the cut is committed before it
      // ends. Without that, the ~100 tasks tally-1 held (its prefetch) wait for its link.
      const settled = (by: number) => [...answeredAt].filter(([, at]) => at <= by).map(([id]) => id)
      let missing: string[] = []
      await sleep(CUT_MS)
      for (const limit = Date.now() + 20_000; ; ) {
        const have = await recorded()
        missing = settled(cutAt + CUT_MS - 2000).filter((id) => !have.has(id))
        if (missing.length === 0 || Date.now() > limit) break
        await sleep(250)
      }
      const during = accepted.size - before
      say(
        `${during} 202s during the cut; ${missing.length} accepted before its last 2 s uncommitted after ${Date.now() - cutAt} ms; restoring the links`,
      )
      await Promise.all([hosts.gw1!.restore(), hosts.wk1!.restore()])
      expect(missing.length, 'votes left with the cut worker').to.equal(0)
      expect(during, 'votes accepted through the other gateway during the cut').to.be.at.least(50)
      await until(200, 'after the links came back')
    } finally {
      await voters.stop()
    }
    say(`votes stopped: ${accepted.size} 202s, other answers ${JSON.stringify(others)}`)

    try {
      await expectCountedOnce({
        db: store,
        accepted,
        uncertain,
        brokerUrl: rabbit!.nodes[0]!.url,
        dlq: `${prefix}.dlq.tally`,
        cluster,
        say,
      })
      // The cut services lost the broker and found it again by themselves (a reconnect that
      // failed while the link was down waits out its backoff first: up to 20 s more).
      for (const name of ['gateway-1', 'tally-1'])
        await waitFor(
          () => output.some((l) => l.startsWith(`[${name}]`) && l.includes('reconnected to a broker node')),
          `${name} to reconnect`,
          20_000,
        )
    } finally {
      await store.end()
      store = undefined
    }
  })
})
