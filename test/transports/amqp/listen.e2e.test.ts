import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const workerScript = fileURLToPath(new URL('../../fixtures/amqp-worker.ts', import.meta.url))

/** A worker process and the lines it printed. */
interface Worker {
  readonly child: ChildProcess
  readonly started: number[]
  readonly done: number[]
  ready: boolean
  exited: boolean
}

function spawnWorker(prefix: string, label: string, workMs: number, prefetch: number): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', workerScript, prefix, label, String(workMs), String(prefetch)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const w: Worker = { child, started: [], done: [], ready: false, exited: false }
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
  child.on('exit', () => (w.exited = true))
  return w
}

describe('amqp workers in separate processes', function () {
  this.timeout(60000)
  let prefix: string
  let workers: Worker[]
  let gateway: Stoa<any>

  beforeEach(async () => {
    prefix = uniquePrefix('e2e')
    workers = []
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix }),
    )
    await gateway.ready()
  })
  afterEach(async () => {
    for (const w of workers) {
      if (!w.exited) w.child.kill('SIGTERM')
    }
    await waitFor(() => workers.every((w) => w.exited), 'the workers to exit', 15000)
    await gateway.close()
    await deleteTopology(prefix, ['tally', 'gateway'])
  })

  const start = async (label: string, workMs: number, prefetch: number) => {
    const w = spawnWorker(prefix, label, workMs, prefetch)
    workers.push(w)
    await waitFor(() => w.ready || w.exited, `worker ${label} to start`, 20000)
    expect(w.exited, `worker ${label} exited early`).to.equal(false)
    return w
  }
  const send = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => gateway.send('tally.vote.record', { i })))

  it('shares the tasks between competing instances, each task handled by exactly one', async () => {
    const [a, b] = [await start('a', 5, 5), await start('b', 5, 5)]
    await send(200)
    await waitFor(() => a.done.length + b.done.length >= 200, 'every task', 30000)
    await settle(300)
    const all = [...a.done, ...b.done].sort((x, y) => x - y)
    expect(all).to.deep.equal(Array.from({ length: 200 }, (_, i) => i))
    expect(a.done.length).to.be.greaterThan(0)
    expect(b.done.length).to.be.greaterThan(0)
  })

  it('redelivers the tasks of an instance killed with SIGKILL mid-task to another instance', async () => {
    const a = await start('a', 200, 10)
    await send(40)
    await waitFor(() => a.started.length >= 5, 'the first instance to be busy', 20000)
    a.child.kill('SIGKILL')
    await waitFor(() => a.exited, 'the first instance to die')
    const cut = new Set(a.started.filter((n) => !a.done.includes(n)))
    expect(cut.size).to.be.greaterThan(0) // it died with work in hand
    const b = await start('b', 1, 10)
    await waitFor(
      () => new Set([...a.done, ...b.done]).size === 40,
      'every task done by one instance or the other',
      30000,
    )
    for (const n of cut) expect(b.done).to.include(n)
  })
})
