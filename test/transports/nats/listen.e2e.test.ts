import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { deleteStreams, NATS_URL, uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const workerScript = fileURLToPath(new URL('../../fixtures/nats-worker.ts', import.meta.url))

/** A worker process and the lines it printed. */
interface Worker {
  readonly child: ChildProcess
  readonly started: number[]
  readonly done: number[]
  ready: boolean
}

function spawnWorker(prefix: string, workMs: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript, prefix, String(workMs), '1000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const w: Worker = { child, started: [], done: [], ready: false }
  let rest = ''
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n')
    rest = lines.pop()!
    for (const line of lines) {
      if (line === 'ready') w.ready = true
      const [what, n] = line.split(' ')
      if (what === 'start') w.started.push(Number(n))
      if (what === 'done') w.done.push(Number(n))
    }
  })
  return w
}

describe('nats workers in separate processes', function () {
  this.timeout(60000)
  let prefix: string
  let workers: Worker[]
  let gateway: Stoa<any>

  beforeEach(async () => {
    prefix = uniquePrefix('e2e')
    workers = []
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createNatsTransport({ url: NATS_URL, prefix }),
    )
    await gateway.ready()
  })
  afterEach(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
    await gateway.close()
    await deleteStreams(prefix)
  })

  it('gives the tasks a SIGKILLed worker held to the worker left, every one handled', async () => {
    const slow = spawnWorker(prefix, 60_000)
    workers.push(slow)
    await waitFor(() => slow.ready, 'the first worker', 20_000)
    const tasks = Array.from({ length: 10 }, (_, i) => i)
    await Promise.all(tasks.map((i) => gateway.send('tally.vote.record', { i })))
    await waitFor(() => slow.started.length === tasks.length, 'the first worker to take every task', 10_000)
    slow.child.kill('SIGKILL')
    const fresh = spawnWorker(prefix, 0)
    workers.push(fresh)
    await waitFor(() => fresh.ready, 'the second worker', 20_000)
    // At least once: under load a task can come twice (its ack wait ran out before the ack landed),
    // so wait for every distinct task, not for a count of deliveries.
    await waitFor(() => new Set(fresh.done).size >= tasks.length, 'every task at the second worker', 20_000)
    expect([...new Set(fresh.done)].sort((a, b) => a - b)).to.deep.equal(tasks)
    expect(slow.done).to.deep.equal([])
  })
})
