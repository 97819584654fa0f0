/**
 * stoa on the AMQP transport with its defaults: the same RPC and task workloads as raw.ts,
 * through `createAmqpTransport`, an action and a task handler.
 */
import { createStoa } from '../../actions/index.js'
import { createAmqpTransport } from '../../transports/amqp/index.js'
import { AMQP_URL, emitFiguresLine, onTerm, rpcFigures, runId, startServer, TASKS, taskFigures } from './common.js'

const [mode, prefix = ''] = process.argv.slice(2)
const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined }

if (mode === 'server') {
  let done = 0
  const stoa = createStoa({ name: 'bench', logger: quiet })
    .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
    .add('task:bench.vote.record', () => {
      if (++done === TASKS) process.stdout.write('tasks-done\n')
    })
    .listen(createAmqpTransport({ url: AMQP_URL, prefix }))
  await stoa.ready()
  onTerm(() => stoa.close())
  process.stdout.write('ready\n')
} else {
  const run = runId()
  const server = await startServer(import.meta.url, [run])
  const stoa = createStoa({ name: 'gateway', logger: quiet }).client(
    createAmqpTransport({ url: AMQP_URL, prefix: run, target: 'bench' }),
    ['role:math'],
  )
  await stoa.ready()
  const rpc = await rpcFigures(() => stoa.act('role:math,cmd:sum', { left: 1, right: 2 }))
  const tasks = await taskFigures(
    (i) => stoa.send('bench.vote.record', { voter: `v${i}`, choice: 'a' }),
    () => server.waitFor('tasks-done'),
  )
  await server.stop()
  await stoa.close()
  // Remove what the run declared (deleting a queue that does not exist is not an error).
  const { default: amqp } = await import('amqplib')
  const conn = await amqp.connect(AMQP_URL)
  const ch = await conn.createChannel()
  for (const q of ['rpc.bench', 'tasks.bench', 'dlq.bench', 'retry.1000', 'retry.2000', 'retry.4000', 'retry.8000'])
    await ch.deleteQueue(`${run}.${q}`)
  for (const x of ['events', 'retry']) await ch.deleteExchange(`${run}.${x}`)
  await conn.close()
  emitFiguresLine({ ...rpc, ...tasks })
}
