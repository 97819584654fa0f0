// One contestant of the resilience suite, run in its own process:
//   node --import tsx bench/resilience/worker.ts <local|local-bulkhead|remote|remote-breaker>
// Prints one JSON line: sequential and 1000-concurrent ops/s.
import { createStoa } from '../../actions/index.js'
import breaker from '../../plugins/breaker/index.js'
import bulkhead from '../../plugins/bulkhead/index.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { callLoops, emitFigures } from '../lib.js'

const who = process.argv[2] ?? 'local'
const ms = Number(process.env.BENCH_MS ?? 1500)
const CONCURRENCY = 1000
const msg = { role: 'bench', cmd: 'sum', left: 1, right: 2 }
const sum = async (m: Record<string, unknown>) => ({ answer: Number(m.left) + Number(m.right) })

function loops(call: () => Promise<unknown>) {
  return callLoops(call, ms, CONCURRENCY)
}

async function main() {
  if (who === 'local' || who === 'local-bulkhead') {
    const stoa = createStoa({ name: 'bench' })
    // A limit never reached: what is measured is the wrapper, not waiting.
    if (who === 'local-bulkhead')
      stoa.use(bulkhead).add('role:bench,cmd:sum', sum, { bulkhead: { concurrency: 1_000_000 } })
    else stoa.add('role:bench,cmd:sum', sum)
    await stoa.ready()
    emitFigures(await loops(() => stoa.act(msg)))
  } else {
    // An act leaving through a client transport: the memory transport, so that the breaker's
    // cost is not hidden under a network round trip.
    const bus = createMemoryBus()
    const server = createStoa({ name: 'server' }).add('role:bench,cmd:sum', sum).listen(createMemoryTransport({ bus }))
    await server.ready()
    const client = createStoa({ name: 'client' })
    if (who === 'remote-breaker') client.use(breaker)
    client.client(createMemoryTransport({ bus }), ['role:bench'])
    await client.ready()
    emitFigures(await loops(() => client.act(msg)))
  }
  process.exit(0)
}

await main()
