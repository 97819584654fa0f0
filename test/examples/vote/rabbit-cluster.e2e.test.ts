import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import { createStoa } from '../../../actions/index.js'
import type { Cluster } from '../../../examples/vote/cluster.js'
import { startCluster } from '../../../examples/vote/cluster.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import type { RabbitCluster, RabbitNode } from '../../fixtures/rabbit-cluster.js'
import { startRabbitCluster } from '../../fixtures/rabbit-cluster.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { expectCountedOnce, startVoters } from '../../helpers/vote-checks.js'
import { quietLogger } from '../../helpers/wait.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECRET = randomBytes(32).toString('base64url')
const VOTERS = 500
const CONCURRENCY = 16

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The distributed vote system on a three-node RabbitMQ cluster this test starts itself (its own
 * node names `scale_rN@localhost`, ports, data directories and cookie; the machine's own node is
 * never touched), on quorum queues, every service given the three addresses. Votes flow while
 * the node every service is connected to is SIGKILLed, then (once it is back) the node leading
 * the task queue: every 202 is counted exactly once, and every service reconnects by itself (no
 * process is restarted). At the first kill a sender through a surviving node publishes within
 * seconds though its channel's first publish to its queue came while the queue's record still
 * named the dead leader (see {@link staleLeaderSender}).
 */
describe('examples/vote on a three-node RabbitMQ cluster: nodes killed, every 202 counted once', function () {
  // Measured 35-50 s at a load of 10-15 on two cores (the cluster's start 12-20 s of it), and
  // 280 s at a load of 15-20 (the cluster's start 108 s, the votes 160 s: every rabbitmqctl call
  // boots an Erlang VM); each wait below has its own bound, so a stall fails naming the step
  // instead of reaching this.
  this.timeout(300_000)
  const prefix = `scale_${randomBytes(4).toString('hex')}`
  const database = `scale_vote_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  let rabbit: RabbitCluster | undefined
  let cluster: Cluster | undefined
  const output: string[] = []
  const t0 = Date.now()
  const say = (line: string) => process.stdout.write(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}\n`)
  let nginx: string | undefined

  before(async function () {
    nginx = requireProgram(this, PROGRAMS.nginx)
    await admin.connect()
    ;[rabbit] = await Promise.all([startRabbitCluster(3, 'scale'), admin.query(`CREATE DATABASE ${database}`)])
    const t = rabbit.timings
    say(
      `RabbitMQ cluster up (boot ${t.boot} ms, joins ${t.join} ms, quorum check ${t.quorum} ms): ${rabbit.nodes.map((n) => `${n.name} :${n.port} pid ${n.pid}`).join(', ')}`,
    )
  })
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stdout.write(`${output.slice(-60).join('\n')}\n`)
  })
  after(async () => {
    if (nginx === undefined) return
    await cluster?.stop(5000)
    await rabbit?.close()
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  /** The node leading a quorum queue, as a live node of the cluster tells. */
  async function leaderOf(queue: string): Promise<RabbitNode> {
    const live = rabbit!.nodes.find((n) => !n.killed)!
    for (let i = 0; i < 40; i++) {
      const out = await rabbit!.ctl(live, 'list_queues', '--no-table-headers', 'name', 'leader')
      const line = out.split('\n').find((l) => l.split(/\s+/)[0] === queue)
      const leader = rabbit!.nodes.find((n) => line?.includes(n.name) === true)
      if (leader !== undefined && !leader.killed) return leader
      await sleep(250)
    }
    throw new Error(`no live leader for ${queue}`)
  }

  /**
   * A sender through `through` whose publish channel is open but has not yet published to its
   * task queue, declared through `leaderNode` (so led from there). Once `leaderNode` is killed,
   * `sendUntilConfirmed` sends at once and again until a send is confirmed (at most 20 s).
   * RabbitMQ 3.10 sets up a channel's view of a quorum queue at its first publish there, from
   * the queue's record: while that record still named the killed leader, the channel refused
   * that publish and every later one to the queue for as long as it lived (seen: 1,506 refusals
   * in 20 s), while channels opened a moment later published. The transport replaces a channel
   * a refusal comes back on; this checks it does.
   */
  async function staleLeaderSender(leaderNode: RabbitNode, through: RabbitNode) {
    // A declaration on a busy machine may take seconds; a refusal comes back at once.
    const on = (node: RabbitNode) =>
      createAmqpTransport({ url: node.url, prefix: `${prefix}_probe`, queueType: 'quorum', publishWaitMs: 10_000 })
    const declarer = createStoa({ name: 'declarer', logger: quietLogger(), timeoutMs: 20_000 }).client(on(leaderNode))
    try {
      await declarer.ready()
      await declarer.send('probe.vote.record', { n: 0 })
    } finally {
      await declarer.close()
    }
    const sender = createStoa({ name: 'sender', logger: quietLogger(), timeoutMs: 20_000 }).client(on(through))
    await sender.ready()
    return {
      async sendUntilConfirmed(): Promise<void> {
        const from = Date.now()
        let refused = 0
        for (;;) {
          const sent = await sender.send('probe.vote.record', { n: 1 }).then(
            () => true,
            (err: { code?: string }) => {
              expect(err.code, 'a refused send').to.equal('UNAVAILABLE')
              return false
            },
          )
          if (sent) break
          refused++
          if (Date.now() - from > 20_000)
            throw new Error(`${refused} sends through ${through.name} refused in 20 s after the leader's kill`)
        }
        say(`probe: a send through ${through.name} confirmed after ${refused} refused, ${Date.now() - from} ms`)
      },
      close: () => sender.close(),
    }
  }

  it('2 gateways, 2 workers on quorum queues: the gateways’ node killed, then the task queue’s leader', async () => {
    const dbUrl = new URL(PG_URL)
    dbUrl.pathname = `/${database}`
    cluster = await startCluster({
      gateways: 2,
      workers: 2,
      port: 0,
      amqpUrl: rabbit!.url,
      queueType: 'quorum',
      databaseUrl: dbUrl.toString(),
      prefix,
      jwtSecret: SECRET,
      log: (name, line) => {
        output.push(`[${name}] ${line}`)
        const m =
          /"msg":"(amqp: (connection lost|reconnected to a broker node|the broker refused)[^"]*)"(?:.*"node":"([^"]+)")?/.exec(
            line,
          )
        if (m !== null) say(`${name}: ${m[1]}${m[3] === undefined ? '' : ` (${m[3]})`}`)
      },
    })
    say('vote system up')
    const probe = await staleLeaderSender(rabbit!.nodes[0]!, rabbit!.nodes[1]!)
    const voters = startVoters({ url: cluster!.url, secret: SECRET, voters: VOTERS, concurrency: CONCURRENCY })
    const { accepted, uncertain, others } = voters
    // A stall prints what the live nodes say of every queue: its leader, members and those online.
    const until = async (n: number, step: string) => {
      try {
        await voters.until(n, step)
      } catch (err) {
        const live = rabbit!.nodes.find((node) => !node.killed)!
        const queues = await rabbit!
          .ctl(live, 'list_queues', 'name', 'type', 'leader', 'members', 'online', 'messages')
          .catch((e: unknown) => `list_queues failed: ${e}`)
        say(`stalled ${step}; queues as ${live.name} tells:\n${queues}`)
        throw err
      }
    }
    try {
      // Every service connected to the first address: that node goes first.
      const first = rabbit!.nodes[0]!
      await Promise.all([until(200, 'before the first kill'), rabbit!.notQuorumCritical(first)])
      say(
        `SIGKILL ${first.name} (pid ${first.pid}), the node the gateways and workers use and every queue's leader; ${accepted.size} 202s so far`,
      )
      await first.kill()
      await Promise.all([probe.sendUntilConfirmed(), until(150, `after ${first.name} was killed`)])
      say(`${accepted.size} 202s; starting ${first.name} again`)
      await first.start()
      say(`${first.name} back (pid ${first.pid})`)
      const tasks = `${prefix}.tasks.tally`
      const leader = await leaderOf(tasks)
      // Its queue members caught up: the kill below leaves every quorum queue a majority.
      await Promise.all([until(100, `after ${first.name} came back`), rabbit!.notQuorumCritical(leader)])
      say(`SIGKILL ${leader.name} (pid ${leader.pid}), leader of ${tasks}; ${accepted.size} 202s so far`)
      await leader.kill()
      await until(150, `after ${leader.name} was killed`)
    } finally {
      await voters.stop()
      await probe.close()
    }
    say(`votes stopped: ${accepted.size} 202s, other answers ${JSON.stringify(others)}`)

    const db = new pg.Client({ connectionString: dbUrl.toString() })
    await db.connect()
    try {
      await expectCountedOnce({
        db,
        accepted,
        uncertain,
        brokerUrl: rabbit!.nodes.find((n) => !n.killed)!.url,
        dlq: `${prefix}.dlq.tally`,
        cluster,
        say,
      })
      // Every service process said it reconnected after the first kill.
      const names = [...cluster.gateways, ...cluster.workers].map((p) => p.name)
      for (const name of names)
        expect(
          output.some((l) => l.startsWith(`[${name}]`) && l.includes('reconnected to a broker node')),
          `${name} reconnected`,
        ).to.equal(true)
    } finally {
      await db.end()
    }
  })
})
