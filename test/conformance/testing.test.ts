import { createHarness } from '../../plugins/testing/index.js'
import { conformance } from './suite.js'

// The simulated broker of stoa/testing, with no fault injected, behaves as a transport must:
// what a test learns on it holds for the transports a service runs on.
conformance('testing (the simulated broker)', async () => {
  const h = createHarness()
  return {
    listen: (stoa) => void stoa.listen(h.transport()),
    client: (stoa, _target, pins) => void stoa.client(h.transport(), pins),
    close: () => h.close(),
  }
})
