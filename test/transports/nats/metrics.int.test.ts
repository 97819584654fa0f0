import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import metrics from '../../../plugins/metrics/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import type { OwnNatsServer } from '../../fixtures/nats-cluster.js'
import { startNatsServer } from '../../fixtures/nats-cluster.js'
import { uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, settle } from '../../helpers/wait.js'

/** The scrape text of an instance's metrics plugin. */
async function scrape(s: Stoa<any>): Promise<string> {
  return ((await s.act('role:metrics,cmd:scrape')) as { text: string }).text
}

/** Waits, within a bound, until the scrape of `s` holds every line; resolves with the last scrape. */
async function scrapeUntil(s: Stoa<any>, lines: readonly RegExp[], timeoutMs = 20_000): Promise<string> {
  let text = ''
  for (const until = Date.now() + timeoutMs; Date.now() < until; await settle(50)) {
    text = await scrape(s)
    if (lines.every((l) => l.test(text))) break
  }
  return text
}

describe('nats transport reporting to the metrics plugin', function () {
  this.timeout(60_000)
  // Its own server, since one test restarts it; the shared one is never touched.
  let server: OwnNatsServer
  const started: Stoa<any>[] = []
  let tally: Stoa<any>
  let gateway: Stoa<any>
  let handled = 0

  before(async () => {
    server = await startNatsServer(uniquePrefix('metrics'))
    const prefix = uniquePrefix('metrics')
    tally = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 1000 }).use(metrics)
    tally
      .add('role:tally,cmd:count', (m) => ({ n: m.n }))
      .add('task:tally.vote.record', (m) => {
        if (m.poison === true) throw new StoaError('ACTION_FAILED', 'cannot record')
        handled++
      })
      .on('vote.recorded', () => undefined)
      .listen(createNatsTransport({ url: server.url, prefix, attempts: 2, backoffMs: 20, maxBackoffMs: 20 }))
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).use(metrics, { processMetrics: false })
    // The transport reports to the metrics plugin through the instance: no observer to give.
    gateway.client(createNatsTransport({ url: server.url, prefix, target: 'tally' }), ['role:tally'])
    started.push(tally, gateway)
    await tally.ready()
    await gateway.ready()
  })

  after(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
    await server?.close()
  })

  it('counts deliveries received, retried and dead-lettered, and publish confirms, with the AMQP names and labels', async () => {
    for (let n = 0; n < 3; n++) await gateway.act('role:tally,cmd:count', { n })
    for (let n = 0; n < 4; n++) await gateway.send('tally.vote.record', { voter: `v${n}` })
    await gateway.send('tally.vote.record', { poison: true })
    await gateway.emit('vote.recorded', { voter: 'v0' })
    const want = [
      /stoa_transport_received_total\{transport="nats",kind="act",service="tally"\} 3\n/,
      // Four tasks that passed, and the poison one twice: its first try and its one retry.
      /stoa_transport_received_total\{transport="nats",kind="send",service="tally"\} 6\n/,
      /stoa_transport_received_total\{transport="nats",kind="emit",service="tally"\} 1\n/,
      /stoa_transport_retried_total\{transport="nats",kind="send",service="tally"\} 1\n/,
      /stoa_transport_dead_lettered_total\{transport="nats",kind="send",code="ACTION_FAILED",service="tally"\} 1\n/,
      // The dead letter's own store was confirmed too.
      /stoa_transport_publish_confirms_total\{transport="nats",outcome="ok",service="tally"\} 1\n/,
    ]
    const text = await scrapeUntil(tally, want)
    for (const line of want) expect(text).to.match(line)
    expect(handled).to.equal(4)
    const sent = await scrape(gateway)
    // Every task and event the gateway published waited on JetStream's ack.
    expect(sent).to.match(
      /stoa_transport_publish_confirms_total\{transport="nats",outcome="ok",service="gateway"\} 6\n/,
    )
    expect(sent).to.match(/stoa_transport_publish_confirm_seconds_count\{service="gateway",transport="nats"\} 6\n/)
    expect(sent).to.match(
      /stoa_remote_calls_total\{transport="nats",kind="send",name="tally.vote.record",outcome="ok",service="gateway"\} 5\n/,
    )
  })

  it('counts a reconnection after the server was restarted', async () => {
    expect(await scrape(tally)).not.to.match(/stoa_transport_reconnects_total\{/)
    await server.kill()
    await server.start()
    const want = [
      /stoa_transport_reconnects_total\{transport="nats",service="tally"\} 1\n/,
      /stoa_transport_reconnects_total\{transport="nats",service="gateway"\} 1\n/,
    ]
    const text = (await scrapeUntil(tally, want.slice(0, 1))) + (await scrapeUntil(gateway, want.slice(1)))
    for (const line of want) expect(text).to.match(line)
  })
})
