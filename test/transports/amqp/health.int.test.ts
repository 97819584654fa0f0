import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { Link } from '../../../transports/amqp/connection.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, dropConnections, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'

describe('amqp transport health', function () {
  this.timeout(30000)
  const prefix = uniquePrefix('health')
  let stoa: Stoa<any> | undefined

  after(async () => {
    await stoa?.close()
    await deleteTopology(prefix, ['tally'])
  })

  it('makes the instance not ready while its broker connection is down, and ready again once it is back', async () => {
    stoa = createStoa({ name: 'tally', logger: quietLogger() })
      .add('task:tally.vote.record', () => undefined)
      // A slow first reconnect, so that the time without a connection can be seen.
      .listen(
        createAmqpTransport({
          url: AMQP_URL,
          prefix,
          connectionName: `${prefix}/tally`,
          reconnectMinMs: 1500,
          reconnectMaxMs: 3000,
        }),
      )
    await stoa.ready()
    expect((await stoa.readiness()).ready).to.equal(true)
    // Only this test's connection, found by its name, is dropped.
    expect(await dropConnections(prefix)).to.equal(1)
    let down: unknown
    const until = Date.now() + 3000
    while (down === undefined && Date.now() < until) {
      const r = await stoa.readiness()
      if (!r.ready) down = r.checks.find((c) => c.name === 'transport:amqp')
      else await new Promise((res) => setTimeout(res, 10))
    }
    expect(down).to.deep.equal({ name: 'transport:amqp', ready: false, reason: 'the broker connection is down' })
    let back = false
    const later = Date.now() + 10000
    while (!back && Date.now() < later) {
      back = (await stoa.readiness()).ready
      if (!back) await new Promise((res) => setTimeout(res, 50))
    }
    expect(back, 'ready again after reconnecting').to.equal(true)
  })

  it('is not ready while the broker blocks the connection (connection.blocked), and ready once unblocked', async () => {
    // A resource alarm cannot be raised on a broker other tests share, so the broker's
    // connection.blocked and connection.unblocked are played on this connection's own model,
    // as amqplib emits them when the frames arrive.
    const link = new Link({
      urls: [AMQP_URL],
      connectionName: `${prefix}/blocked`,
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
      log: quietLogger(),
    })
    try {
      await link.start()
      expect(link.health()).to.deep.equal({ ready: true })
      const model = (link as unknown as { model: { emit(event: string, ...args: unknown[]): boolean } }).model
      model.emit('blocked', 'low on memory')
      expect(link.health()).to.deep.equal({ ready: false, reason: 'the broker blocked the connection: low on memory' })
      model.emit('unblocked')
      expect(link.health()).to.deep.equal({ ready: true })
    } finally {
      await link.close()
    }
    expect(link.health()).to.deep.equal({ ready: false, reason: 'the amqp transport is closed' })
  })
})
