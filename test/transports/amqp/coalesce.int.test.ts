import amqp from 'amqplib'
import { expect } from 'chai'
import { coalesceWrites } from '../../../transports/amqp/connection.js'
import { AMQP_URL } from '../../fixtures/amqp-broker.js'

/**
 * The transport batches the frames amqplib flushes in one pass into one socket write, through
 * amqplib internals. If an upgrade removes them, the transport still works (frame by frame, and
 * slower); this test is what says so.
 */
describe('amqp write coalescing', () => {
  it('finds the amqplib internals it relies on, and the connection still carries messages', async () => {
    const model = await amqp.connect(AMQP_URL, { noDelay: true })
    try {
      expect(coalesceWrites(model)).to.equal(true)
      const ch = await model.createConfirmChannel()
      const { queue } = await ch.assertQueue('', { exclusive: true })
      for (let i = 0; i < 20; i++) ch.sendToQueue(queue, Buffer.from(String(i)))
      await ch.waitForConfirms()
      const got: string[] = []
      for (;;) {
        const m = await ch.get(queue, { noAck: true })
        if (m === false) break
        got.push(m.content.toString())
      }
      expect(got).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i)))
    } finally {
      await model.close()
    }
  })
})
