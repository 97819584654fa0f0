/**
 * seneca-amqp-transport: a `role:math,cmd:sum` action called from another Seneca instance.
 * `default` runs it as shipped (Nagle's algorithm on, so each call waits for delayed ACKs);
 * `nodelay` passes `socketOptions.noDelay`. Seneca has no task queue: RPC workloads only.
 */
import Seneca from 'seneca'
import { AMQP_URL, emitFiguresLine, onTerm, rpcFigures, startServer } from './common.js'

const [first, second] = process.argv.slice(2)
const server = first === 'server'
const variant = server ? second! : first!
const PIN = 'role:math,cmd:sum'
const transport = {
  type: 'amqp',
  pin: PIN,
  url: AMQP_URL,
  ...(variant === 'nodelay' ? { socketOptions: { noDelay: true } } : {}),
}

function seneca(): any {
  // seneca-amqp-transport takes its helpers from seneca-transport's `transport/utils`, which
  // Seneca 3 no longer loads by itself.
  return (Seneca as unknown as (o: object) => any)({ log: 'silent', legacy: false })
    .use('seneca-transport')
    .use('seneca-amqp-transport')
}

if (server) {
  const s = seneca()
  s.add(PIN, (msg: { left: number; right: number }, reply: (err: unknown, out?: unknown) => void) =>
    reply(null, { answer: msg.left + msg.right }),
  )
  s.listen(transport)
  await new Promise((r) => s.ready(r))
  onTerm(() => new Promise((r) => s.close(r)))
  process.stdout.write('ready\n')
} else {
  const srv = await startServer(import.meta.url, [variant])
  const s = seneca().client(transport)
  await new Promise((r) => s.ready(r))
  const call = () =>
    new Promise((resolve, reject) =>
      s.act(PIN, { left: 1, right: 2 }, (err: unknown, out: unknown) => (err ? reject(err) : resolve(out))),
    )
  const rpc = await rpcFigures(call)
  await srv.stop()
  await new Promise((r) => s.close(r))
  // The listener's queue and the transport's fixed exchanges and dead-letter queue.
  const { default: amqp } = await import('amqplib')
  const conn = await amqp.connect(AMQP_URL)
  const ch = await conn.createChannel()
  await ch.deleteQueue('seneca.add.role:math.cmd:sum')
  await ch.deleteQueue('seneca.dlq')
  await ch.deleteExchange('seneca.topic')
  await ch.deleteExchange('seneca.dlx')
  await conn.close()
  emitFiguresLine(rpc)
}
