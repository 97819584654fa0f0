/**
 * Moleculer's NATS transporter, as it ships: a `math.sum` action called from another node.
 * Moleculer has no confirmed task queue, so it runs the RPC workloads only. Its transporter
 * needs the `nats` package (nats.js 2, not the `@nats-io/*` packages stoa uses); without it
 * this contestant prints `{"missing":1}` and the suite leaves its ratio out.
 */
import { createRequire } from 'node:module'
import { ServiceBroker } from 'moleculer'
import { emitFiguresLine, NATS_URL, onTerm, rpcFigures, runId, startServer } from './common.js'

const [first, second] = process.argv.slice(2)
const server = first === 'server'
const namespace = server ? second! : `nx_${runId()}`

function hasNatsPackage(): boolean {
  try {
    createRequire(import.meta.url).resolve('nats')
    return true
  } catch {
    return false
  }
}

function broker(nodeID: string): ServiceBroker {
  return new ServiceBroker({
    namespace,
    nodeID,
    logger: false,
    transporter: { type: 'NATS', options: { url: NATS_URL } },
  })
}

if (!hasNatsPackage()) {
  emitFiguresLine({ missing: 1 })
} else if (server) {
  const b = broker('server')
  b.createService({
    name: 'math',
    actions: { sum: (ctx) => ({ answer: Number(ctx.params.left) + Number(ctx.params.right) }) },
  })
  await b.start()
  onTerm(() => b.stop())
  process.stdout.write('ready\n')
} else {
  const srv = await startServer(import.meta.url, [namespace])
  const b = broker('client')
  await b.start()
  await b.waitForServices(['math'])
  const rpc = await rpcFigures(() => b.call('math.sum', { left: 1, right: 2 }), srv.child.pid)
  await srv.stop()
  await b.stop()
  emitFiguresLine(rpc)
}
