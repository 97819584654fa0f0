import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, dropConnections, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

describe("amqp: events to every instance ({ each: 'instance' })", function () {
  this.timeout(60_000)
  const prefix = uniquePrefix('ed-inst')

  after(() => deleteTopology(prefix, ['edge', 'gateway']))

  it('declares its own queue again after the connection drops, and goes on hearing events', async () => {
    const seen: string[] = []
    const edge = createStoa({ name: 'edge', logger: quietLogger() })
      .on('vote.recorded', (m) => void seen.push(String(m.n)), { each: 'instance' })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, connectionName: `${prefix}-edge`, reconnectMinMs: 50 }))
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, connectionName: `${prefix}-gw` }),
    )
    await edge.ready()
    await gateway.ready()
    try {
      await gateway.emit('vote.recorded', { n: 1 })
      await waitFor(() => seen.includes('1'), 'the first event')
      expect(await dropConnections(`${prefix}-edge`)).to.be.greaterThan(0)
      // Until the queue is declared again, events are missed (at most once): keep emitting until one lands.
      let n = 2
      const until = Date.now() + 30_000
      while (!seen.includes(String(n - 1)) || n === 2) {
        if (Date.now() > until) throw new Error(`no event after the reconnection; seen ${seen.join(',')}`)
        await gateway.emit('vote.recorded', { n: n++ })
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(seen[0]).to.equal('1')
      expect(seen.length).to.be.greaterThan(1)
    } finally {
      await gateway.close()
      await edge.close()
    }
  })
})
