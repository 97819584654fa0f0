/**
 * The reference: nats.js used directly, doing what stoa does on its defaults. RPC as core
 * requests to a subject in a queue group, JSON both ways; tasks published to a file-stored
 * work-queue stream, each awaited until JetStream acknowledged it, and taken by a durable pull
 * consumer with explicit acks after handling. No stack captured per request, as stoa connects.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
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

const [mode, id = ''] = process.argv.slice(2)
const enc = (v: unknown) => Buffer.from(JSON.stringify(v))

if (mode === 'server') {
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true })
  nc.subscribe(`${id}.rpc`, {
    queue: `${id}.rpc`,
    callback: (_err, m) => {
      const msg = m.json<{ left: number; right: number }>()
      m.respond(enc({ ok: true, out: { answer: msg.left + msg.right } }))
    },
  })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: `${id}_tasks`, subjects: [`${id}.tasks.>`], retention: 'workqueue', storage: 'file' })
  await jsm.consumers.add(`${id}_tasks`, { durable_name: 'tasks', ack_policy: 'explicit' })
  const consumer = await jetstream(nc).consumers.get(`${id}_tasks`, 'tasks')
  const messages = await consumer.consume({ max_messages: 100 })
  let done = 0
  void (async () => {
    for await (const m of messages) {
      m.json()
      m.ack()
      if (++done === TASKS) process.stdout.write('tasks-done\n')
    }
  })()
  await nc.flush()
  onTerm(() => nc.drain())
  process.stdout.write('ready\n')
} else {
  const run = `nx_${runId()}`
  const server = await startServer(import.meta.url, [run])
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true })
  const call = async () =>
    (await nc.request(`${run}.rpc`, enc({ role: 'math', cmd: 'sum', left: 1, right: 2 }), { timeout: 30_000 })).json()
  const rpc = await rpcFigures(call, server.child.pid)
  const js = jetstream(nc)
  const send = (i: number) => js.publish(`${run}.tasks.bench.vote.record`, enc({ voter: `v${i}`, choice: 'a' }))
  const tasks = await taskFigures(send, () => server.waitFor('tasks-done'))
  await server.stop()
  await nc.close()
  await deleteStreams(`${run}_`)
  emitFiguresLine({ ...rpc, ...tasks })
}
