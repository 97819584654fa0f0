import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { conformance } from './suite.js'

conformance('memory', async () => {
  const bus = createMemoryBus()
  return {
    listen: (stoa) => void stoa.listen(createMemoryTransport({ bus })),
    client: (stoa, _target, pins) => void stoa.client(createMemoryTransport({ bus }), pins),
    close: async () => undefined,
  }
})
