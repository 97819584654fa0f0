import type { Stoa } from '../../actions/index.js'
import type { HttpTransport } from '../../transports/http/index.js'
import { createHttpTransport } from '../../transports/http/index.js'
import { conformance } from './suite.js'

/*
 * HTTP is point to point: a client transport names one listener. The harness therefore gives
 * a calling instance one client transport per listening service, the target's first (acts
 * matching the pins and tasks go to it) and one for every other service (events reach each
 * service), which is how a service configures HTTP to reach several services.
 */
conformance(
  'http',
  async () => {
    const listening = new Map<string, HttpTransport>()
    return {
      listen(stoa: Stoa<any>) {
        const transport = createHttpTransport()
        if (!listening.has(stoa.name)) listening.set(stoa.name, transport)
        stoa.listen(transport)
      },
      client(stoa: Stoa<any>, target: string, pins: string[]) {
        const url = (service: string) => {
          const address = listening.get(service)?.address()
          if (address === undefined) throw new Error(`service ${service} is not listening yet`)
          return address
        }
        stoa.client(createHttpTransport({ url: url(target) }), pins)
        for (const service of listening.keys()) {
          if (service !== target && service !== stoa.name) stoa.client(createHttpTransport({ url: url(service) }), [])
        }
      },
      close: async () => undefined,
    }
  },
  { instance: 'http reaches one listener per address: there is no fan-out to every instance' },
)
