import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, dropConnections, uniquePrefix } from '../../fixtures/amqp-broker.js'
import type { Report } from '../../fixtures/cli-amqp/observed.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import type { Run } from '../run.js'
import { run } from '../run.js'

/**
 * `stoa serve` knows no observability plugin: a service's own plugin that subscribes to
 * transport observations hears the AMQP transport all the same. The connection loss is
 * `rabbitmqctl close_connection` on this test's own connection, found by its name.
 */
describe('stoa serve: a plugin observing transports hears AMQP (in process, RabbitMQ on 127.0.0.1)', function () {
  this.timeout(60_000)
  const prefix = uniquePrefix('scope-observe')
  const stop = new AbortController()
  let done: Promise<Run> | undefined
  let http = ''
  let gateway: Stoa | undefined

  before(async () => {
    let out = ''
    const url = new URL(AMQP_URL)
    url.searchParams.set('prefix', prefix)
    done = run(['serve', 'test/fixtures/cli-amqp/observed.ts', '--amqp', url.href, '--http', '127.0.0.1:0'], {
      stop: stop.signal,
      onStdout: (s) => (out += s),
    })
    let ended: Run | undefined
    void done.then((r) => (ended = r))
    await waitFor(() => ended !== undefined || out.includes(' listening on http'), 'serve to listen', 20_000)
    if (ended !== undefined) throw new Error(`serve ended early with ${ended.code}: ${ended.stderr}`)
    http = /listening on (http:\/\/\S+)/.exec(out)![1]!
    // Another service, in this process, sends the served one its tasks through the broker.
    gateway = await createStoa({ name: 'gateway', logger: quietLogger() })
      .client(createAmqpTransport({ url: AMQP_URL, prefix }))
      .ready()
  })

  after(async () => {
    await gateway?.close()
    stop.abort('SIGTERM')
    await done
    await deleteTopology(prefix, ['obs', 'ledger', 'gateway'])
  })

  async function act(msg: Record<string, unknown>): Promise<unknown> {
    const res = await fetch(`${http}/act`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(msg),
    })
    expect(res.status, JSON.stringify(msg)).to.equal(200)
    return res.json()
  }

  let reports: Report[] = []
  async function until(what: string, found: (r: Report[]) => boolean): Promise<void> {
    const deadline = Date.now() + 20_000
    for (;;) {
      reports = ((await act({ role: 'seen', cmd: 'reports' })) as { reports: Report[] }).reports
      if (found(reports)) return
      if (Date.now() > deadline) throw new Error(`no ${what} report within 20 s; heard ${JSON.stringify(reports)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const has =
    (what: Report['what'], ...args: unknown[]) =>
    (r: Report[]) =>
      r.some((x) => x.transport === 'amqp' && x.what === what && args.every((a, i) => x.args[i] === a))

  it("reports the confirm of the service's own publish", async () => {
    expect(await act({ role: 'vote', cmd: 'forward', id: 'v0' })).to.deep.equal({ sent: true })
    await until('confirmed', has('confirmed'))
    const confirmed = reports.find((r) => r.what === 'confirmed')!
    expect(confirmed.args[0]).to.be.a('number')
    expect(confirmed.args[1]).to.equal(true)
  })

  it('reports a task received, retried once, and received again', async () => {
    await gateway!.send('obs.vote.record', { id: 'v1', mode: 'flaky' })
    await until('received', has('received', 'send'))
    await until('retried', has('retried', 'send', 1))
    // The retry is delivered again after its backoff (1 s by default): two receipts in all.
    await until('second receipt', (r) => r.filter((x) => x.what === 'received' && x.args[0] === 'send').length >= 2)
  })

  it('reports a poison task dead-lettered with its code', async () => {
    await gateway!.send('obs.vote.record', { id: 'v2', mode: 'poison' })
    await until('dead-lettered', has('deadLettered', 'send', 'INVALID_MESSAGE'))
  })

  it('reports the connection opened again after it was lost', async () => {
    expect(await dropConnections(`${prefix} obs`)).to.be.greaterThan(0)
    await until('reconnected', has('reconnected'))
  })
})
