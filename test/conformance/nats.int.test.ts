import { createNatsTransport } from '../../transports/nats/index.js'
import { deleteStreams, NATS_URL, uniquePrefix } from '../fixtures/nats-server.js'
import { conformance } from './suite.js'

conformance('nats', async () => {
  const prefix = uniquePrefix('conf')
  return {
    listen: (stoa) => void stoa.listen(createNatsTransport({ url: NATS_URL, prefix })),
    client: (stoa, target, pins) => void stoa.client(createNatsTransport({ url: NATS_URL, prefix, target }), pins),
    close: () => deleteStreams(prefix),
  }
})
