/**
 * stoa on the NATS transport with its defaults: the same RPC and task workloads as raw.ts,
 * through `createNatsTransport`, an action and a task handler.
 */
import { createStoa } from '../../actions/index.js'
import { createNatsTransport } from '../../transports/nats/index.js'
import {
  deleteStreams,
  emitFiguresLine,
  NATS_URL,
  onTerm,
  rpcFigures,
  runId,
  startServer,
  TASKS,
  taskFigures,
} from './common.js'

const [mode, prefix = ''] = process.argv.slice(2)
const quiet = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined }

if (mode === 'server') {
  let done = 0
  const stoa = createStoa({ name: 'bench', logger: quiet })
    .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
    .add('task:bench.vote.record', () => {
      if (++done === TASKS) process.stdout.write('tasks-done\n')
    })
    .listen(createNatsTransport({ url: NATS_URL, prefix }))
  await stoa.ready()
  onTerm(() => stoa.close())
  process.stdout.write('ready\n')
} else {
  const run = `nx_${runId()}`
  const server = await startServer(import.meta.url, [run])
  const stoa = createStoa({ name: 'gateway', logger: quiet }).client(
    createNatsTransport({ url: NATS_URL, prefix: run, target: 'bench' }),
    ['role:math'],
  )
  await stoa.ready()
  const rpc = await rpcFigures(() => stoa.act('role:math,cmd:sum', { left: 1, right: 2 }), server.child.pid)
  const tasks = await taskFigures(
    (i) => stoa.send('bench.vote.record', { voter: `v${i}`, choice: 'a' }),
    () => server.waitFor('tasks-done'),
  )
  await server.stop()
  await stoa.close()
  await deleteStreams(`${run}_`)
  emitFiguresLine({ ...rpc, ...tasks })
}
