/**
 * The reference: amqplib used directly, doing what stoa does on its defaults. RPC over a
 * per-service queue with direct reply-to; tasks persistent on a durable queue, published on a
 * confirm channel and acknowledged by the consumer after handling; prefetch 100; `noDelay`.
 */
import amqp from 'amqplib'
import { AMQP_URL, emitFiguresLine, onTerm, rpcFigures, runId, startServer, TASKS, taskFigures } from './common.js'

const [mode, id = ''] = process.argv.slice(2)
const rpcQueue = (id: string) => `${id}.rpc`
const taskQueue = (id: string) => `${id}.tasks`

if (mode === 'server') {
  const conn = await amqp.connect(AMQP_URL, { noDelay: true })
  const ch = await conn.createChannel()
  await ch.prefetch(100)
  await ch.assertQueue(rpcQueue(id), { durable: false })
  await ch.assertQueue(taskQueue(id), { durable: true })
  await ch.consume(rpcQueue(id), (m) => {
    if (m === null) return
    const msg = JSON.parse(m.content.toString()) as { left: number; right: number }
    const out = Buffer.from(JSON.stringify({ ok: true, out: { answer: msg.left + msg.right } }))
    ch.publish('', m.properties.replyTo as string, out, {
      correlationId: m.properties.correlationId as string,
      contentType: 'application/json',
    })
    ch.ack(m)
  })
  let done = 0
  await ch.consume(taskQueue(id), (m) => {
    if (m === null) return
    JSON.parse(m.content.toString())
    ch.ack(m)
    if (++done === TASKS) process.stdout.write('tasks-done\n')
  })
  onTerm(() => conn.close())
  process.stdout.write('ready\n')
} else {
  const run = runId()
  const server = await startServer(import.meta.url, [run])
  const conn = await amqp.connect(AMQP_URL, { noDelay: true })
  const ch = await conn.createChannel()
  const waiting = new Map<string, (v: unknown) => void>()
  await ch.consume(
    'amq.rabbitmq.reply-to',
    (m) => {
      if (m === null) return
      const id = m.properties.correlationId as string
      const resolve = waiting.get(id)
      waiting.delete(id)
      resolve?.(JSON.parse(m.content.toString()))
    },
    { noAck: true },
  )
  let seq = 0
  const call = () =>
    new Promise((resolve) => {
      const id = (++seq).toString(36)
      waiting.set(id, resolve)
      ch.publish('', rpcQueue(run), Buffer.from(JSON.stringify({ role: 'math', cmd: 'sum', left: 1, right: 2 })), {
        correlationId: id,
        replyTo: 'amq.rabbitmq.reply-to',
        contentType: 'application/json',
      })
    })
  const rpc = await rpcFigures(call)
  const confirm = await conn.createConfirmChannel()
  const send = (i: number) =>
    new Promise<void>((resolve, reject) => {
      confirm.publish(
        '',
        taskQueue(run),
        Buffer.from(JSON.stringify({ voter: `v${i}`, choice: 'a' })),
        { persistent: true, contentType: 'application/json' },
        (err: unknown) => (err == null ? resolve() : reject(err as Error)),
      )
    })
  const tasks = await taskFigures(send, () => server.waitFor('tasks-done'))
  await server.stop()
  await ch.deleteQueue(rpcQueue(run))
  await ch.deleteQueue(taskQueue(run))
  await conn.close()
  emitFiguresLine({ ...rpc, ...tasks })
}
