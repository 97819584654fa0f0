import { createAmqpTransport } from '../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../fixtures/amqp-broker.js'
import { conformance } from './suite.js'

const SERVICES = ['math', 'gateway', 'audit', 'tally', 'other', 'edge']

conformance('amqp', async () => {
  const prefix = uniquePrefix('conf')
  return {
    listen: (stoa) => void stoa.listen(createAmqpTransport({ url: AMQP_URL, prefix })),
    client: (stoa, target, pins) => void stoa.client(createAmqpTransport({ url: AMQP_URL, prefix, target }), pins),
    close: () => deleteTopology(prefix, SERVICES),
  }
})
