/**
 * Moleculer's AMQP transporter: a `math.sum` action called from another node. `default` runs
 * it as Moleculer ships it (prefetch 1, Nagle on); `tuned` with prefetch 100 and `noDelay`.
 * Moleculer has no confirmed task queue, so it runs the RPC workloads only.
 */
import { ServiceBroker } from 'moleculer'
import { AMQP_URL, emitFiguresLine, onTerm, rpcFigures, runId, startServer } from './common.js'

const [first, second, third] = process.argv.slice(2)
const server = first === 'server'
const variant = server ? second! : first!
const namespace = server ? third! : runId()

function broker(nodeID: string): ServiceBroker {
  const options =
    variant === 'tuned' ? { url: AMQP_URL, prefetch: 100, socketOptions: { noDelay: true } } : { url: AMQP_URL }
  return new ServiceBroker({
    namespace,
    nodeID,
    logger: false,
    transporter: { type: 'AMQP', options },
  })
}

if (server) {
  const b = broker('server')
  b.createService({
    name: 'math',
    actions: { sum: (ctx) => ({ answer: Number(ctx.params.left) + Number(ctx.params.right) }) },
  })
  await b.start()
  onTerm(() => b.stop())
  process.stdout.write('ready\n')
} else {
  const srv = await startServer(import.meta.url, [variant, namespace])
  const b = broker('client')
  await b.start()
  await b.waitForServices(['math'])
  const rpc = await rpcFigures(() => b.call('math.sum', { left: 1, right: 2 }))
  await srv.stop()
  await b.stop()
  await cleanUp(namespace)
  emitFiguresLine(rpc)
}

/** Deletes the exchanges and queues Moleculer declared for this run's namespace. */
async function cleanUp(ns: string): Promise<void> {
  const { default: amqp } = await import('amqplib')
  const conn = await amqp.connect(AMQP_URL)
  const ch = await conn.createChannel()
  const kinds = ['DISCONNECT', 'DISCOVER', 'HEARTBEAT', 'INFO', 'PING']
  for (const node of ['server', 'client']) {
    for (const k of ['RES', 'EVENT', 'REQ', ...kinds]) await ch.deleteQueue(`MOL-${ns}.${k}.${node}`)
  }
  for (const k of kinds) await ch.deleteExchange(`MOL-${ns}.${k}`)
  await conn.close()
}
