import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import metrics, { metricsEndpoint } from '../../../plugins/metrics/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { AMQP_URL, deleteTopology, dropConnections, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import type { PrometheusServer } from '../../helpers/prometheus.js'
import { startPrometheus } from '../../helpers/prometheus.js'
import { quietLogger } from '../../helpers/wait.js'

describe('metrics scraped by a real Prometheus server', function () {
  this.timeout(60000)
  const prefix = uniquePrefix('prom')
  const RETRY = { attempts: 2, backoffMs: 20, maxBackoffMs: 20 }
  let tally: Stoa<any>
  let caller: Stoa<any>
  let prom: PrometheusServer
  let handled = 0

  before(async function () {
    // Without the binary the suite is skipped, saying what to install, before anything starts.
    const binary = requireProgram(this, PROGRAMS.prometheus)
    tally = createStoa({ name: 'tally', logger: quietLogger() }).use(metrics)
    tally
      .add('role:tally,cmd:count', (m) => ({ n: m.n }))
      .add('role:tally,cmd:refuse', () => {
        throw new StoaError('FORBIDDEN', 'not yours')
      })
      .add('task:tally.vote.record', (m) => {
        if (m.poison === true) throw new StoaError('ACTION_FAILED', 'cannot record')
        handled++
      })
    const endpoints = { '/metrics': metricsEndpoint(tally) }
    const listener = createHttpTransport({ endpoints })
    tally
      .listen(listener)
      // The AMQP transport reports to the metrics plugin through the instance: no observer to give.
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }))
    await tally.ready()
    caller = createStoa({ name: 'gateway', logger: quietLogger() }).use(metrics, { processMetrics: false })
    caller
      // Tasks go through the first client that places them: the broker.
      .client(createAmqpTransport({ url: AMQP_URL, prefix }))
      .client(createHttpTransport({ url: listener.address()! }), ['role:tally'])
    await caller.ready()
    prom = await startPrometheus(new URL(listener.address()!).host, '/metrics', binary)
  })

  after(async () => {
    await prom?.close()
    await caller?.close()
    await tally?.close()
    if (tally !== undefined) await deleteTopology(prefix, ['tally', 'gateway'], RETRY)
  })

  it('stores the calls, outcomes and AMQP deliveries the test made, with their labels', async () => {
    for (let n = 0; n < 7; n++) await caller.act('role:tally,cmd:count', { n })
    for (let n = 0; n < 2; n++) await caller.act('role:tally,cmd:refuse').catch(() => undefined)
    for (let n = 0; n < 4; n++) await caller.send('tally.vote.record', { voter: `v${n}` })
    await caller.send('tally.vote.record', { poison: true })
    const count = tally.find('role:tally,cmd:count')!.key
    const refuse = tally.find('role:tally,cmd:refuse')!.key
    const want: [string, number][] = [
      [`stoa_calls_total{service="tally",pattern="${count}",kind="act",transport="http",outcome="ok"}`, 7],
      [`stoa_calls_total{service="tally",pattern="${refuse}",kind="act",outcome="FORBIDDEN"}`, 2],
      [`stoa_call_duration_seconds_count{service="tally",pattern="${count}",outcome="ok"}`, 7],
      [
        `stoa_calls_total{service="tally",pattern="task:tally.vote.record",kind="task",transport="amqp",outcome="ok"}`,
        4,
      ],
      [`stoa_calls_total{service="tally",kind="task",outcome="ACTION_FAILED"}`, 2],
      [`stoa_transport_received_total{service="tally",transport="amqp",kind="send"}`, 6],
      [`stoa_transport_retried_total{service="tally",transport="amqp",kind="send"}`, 1],
      [`stoa_transport_dead_lettered_total{service="tally",transport="amqp",kind="send",code="ACTION_FAILED"}`, 1],
      [`stoa_calls_in_flight{service="tally",pattern="${count}"}`, 0],
    ]
    // Prometheus scrapes every 500 ms: wait, within a bound, until every value is stored.
    const until = Date.now() + 30_000
    let got: Record<string, number | undefined> = {}
    for (;;) {
      got = {}
      for (const [q] of want) {
        const r = await prom.query(q)
        got[q] = r.length === 1 ? Number(r[0]!.value[1]) : undefined
      }
      if (want.every(([q, v]) => got[q] === v) || Date.now() > until) break
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(got).to.deep.equal(Object.fromEntries(want))
    expect(handled).to.equal(4)
    // The sender waited on the broker's confirm of each task it published.
    const sent = ((await caller.act('role:metrics,cmd:scrape')) as { text: string }).text
    expect(sent).to.match(
      /stoa_transport_publish_confirms_total\{transport="amqp",outcome="ok",service="gateway"\} 5\n/,
    )
    expect(sent).to.match(
      /stoa_remote_calls_total\{transport="amqp",kind="send",name="tally.vote.record",outcome="ok",service="gateway"\} 5\n/,
    )
    expect(sent).to.match(
      /stoa_remote_calls_total\{transport="http",kind="act",name="",outcome="FORBIDDEN",service="gateway"\} 2\n/,
    )
    const up = await prom.query('up{job="stoa"}')
    expect(up[0]?.value[1]).to.equal('1')
    const lag = await prom.query('nodejs_eventloop_lag_seconds{service="tally"}')
    expect(lag).to.have.length(1)
  })

  it('counts a reconnection after the broker dropped the connection', async () => {
    const scrape = async () => ((await tally.act('role:metrics,cmd:scrape')) as { text: string }).text
    expect(await scrape()).not.to.match(/stoa_transport_reconnects_total\{/)
    // The listener's connection is named after the prefix: only this test's is dropped.
    expect(await dropConnections(`${prefix} tally`)).to.equal(1)
    let text = ''
    for (const until = Date.now() + 15_000; Date.now() < until; ) {
      text = await scrape()
      if (/stoa_transport_reconnects_total\{transport="amqp",service="tally"\} 1\n/.test(text)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(text).to.match(/stoa_transport_reconnects_total\{transport="amqp",service="tally"\} 1\n/)
  })
})
