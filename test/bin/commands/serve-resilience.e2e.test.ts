import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { Agent, request } from 'node:http'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { rawChannel, streamTasks } from '../../fixtures/amqp-broker.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'
import { AMQP_URL, deleteDeclared, uniquePrefix } from '../broker.js'
import type { Exit } from '../spawn.js'
import { exited, start } from '../spawn.js'

const SERVICE = 'test/fixtures/resilience/tally.ts'

/** One `stoa serve` of the tally service, and what it printed. */
interface Instance {
  readonly label: string
  readonly child: ChildProcessWithoutNullStreams
  readonly exit: Promise<Exit>
  /** The HTTP transport's base URL. */
  readonly http: string
  /** The probe server's base URL, with --health. */
  readonly health: string | undefined
  readonly started: number[]
  readonly done: number[]
  /** Numbered acts that started. */
  readonly acts: number[]
}

/** Spawns `stoa serve` on HTTP and AMQP and resolves once both listen. */
function launch(label: string, prefix: string, extra: string[], env: Record<string, string> = {}): Promise<Instance> {
  const child = start(
    ['serve', SERVICE, '--http', '127.0.0.1:0', '--amqp', `${AMQP_URL}?prefix=${prefix}`, ...extra],
    env,
  )
  child.stdin.end()
  const exit = exited(child, 60_000)
  const urls: string[] = []
  let health: string | undefined
  const started: number[] = []
  const done: number[] = []
  const acts: number[] = []
  let rest = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${label} did not start`)), 20_000)
    child.stdout.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        const [what, n] = line.split(' ')
        if (what === 'start') started.push(Number(n))
        else if (what === 'done') done.push(Number(n))
        else if (what === 'act') acts.push(Number(n))
        else if (line.startsWith('tally listening on ')) urls.push(line.slice('tally listening on '.length))
        else if (line.startsWith('tally health on ')) health = line.slice('tally health on '.length)
      }
      if (urls.length === 2 && (health !== undefined || !extra.includes('--health'))) {
        clearTimeout(timer)
        resolve({ label, child, exit, http: urls.find((u) => u.startsWith('http'))!, health, started, done, acts })
      }
    })
    void exit.then((e) => {
      clearTimeout(timer)
      reject(new Error(`instance ${label} exited with ${e.code} before listening: ${e.stderr}`))
    })
  })
}

/** POSTs an act; resolves with the status and body, or rejects with the socket's error. */
function act(
  url: string,
  msg: Record<string, unknown>,
  agent: Agent | false = false,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL('/act', url)
    const body = JSON.stringify(msg)
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode!, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function get(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url)
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', reject)
    req.end()
  })
}

/** How many messages wait in a queue (ready, not unacknowledged). */
async function waiting(queue: string): Promise<number> {
  const raw = await rawChannel()
  try {
    return (await raw.ch.checkQueue(queue)).messageCount
  } finally {
    await raw.close()
  }
}

describe('stoa serve: graceful shutdown, crash-only, rolling update (spawned)', function () {
  this.timeout(120_000)
  let prefix: string
  let instances: Instance[]
  let gateway: Stoa<any>

  beforeEach(async () => {
    prefix = uniquePrefix()
    instances = []
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: `${AMQP_URL}`, prefix }),
    )
    await gateway.ready()
  })

  afterEach(async () => {
    // Only the processes this test started, by their handle; a failed test leaves none behind.
    for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL')
    await Promise.all(instances.map((i) => i.exit.catch(() => undefined)))
    await gateway.close()
    await deleteDeclared(prefix)
  })

  const spawnInstance = async (label: string, extra: string[] = [], env: Record<string, string> = {}) => {
    const i = await launch(label, prefix, extra, env)
    instances.push(i)
    return i
  }

  it('on SIGTERM under load: readiness drops, HTTP requests and tasks in flight finish and are acknowledged, exit 0', async () => {
    const a = await spawnInstance('a', ['--grace-ms', '5000', '--health', '127.0.0.1:0'], { TALLY_WORK_MS: '400' })
    expect(await get(a.health!, '/readyz')).to.equal(200)
    await Promise.all(Array.from({ length: 10 }, (_, i) => gateway.send('tally.vote.record', { i })))
    const acts = Array.from({ length: 10 }, (_, n) => act(a.http, { role: 'tally', cmd: 'count', ms: 400, n }))
    await waitFor(() => a.started.length === 10 && a.acts.length === 10, 'the ten tasks and ten acts to start', 10_000)
    a.child.kill('SIGTERM')
    // Readiness goes at once, while the work in flight still runs.
    let ready = 200
    const until = Date.now() + 2000
    while (ready === 200 && Date.now() < until) ready = await get(a.health!, '/readyz')
    expect(ready).to.equal(503)
    expect(a.done.length, 'tasks still running when readiness dropped').to.be.below(10)
    const answers = await Promise.all(acts)
    expect(answers.map((r) => r.status)).to.deep.equal(Array(10).fill(200))
    const end = await a.exit
    expect(end.code).to.equal(0)
    expect([...a.done].sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    // Acknowledged, not returned: nothing waits in the task queue.
    expect(await waiting(names(prefix).tasks('tally'))).to.equal(0)
  })

  it('on SIGTERM, returns tasks unfinished in the grace period to the queue, never acknowledged, and exits 0', async () => {
    const a = await spawnInstance('a', ['--grace-ms', '500'], { TALLY_WORK_MS: '30000' })
    await Promise.all(Array.from({ length: 5 }, (_, i) => gateway.send('tally.vote.record', { i })))
    await waitFor(() => a.started.length === 5, 'the five tasks to start', 10_000)
    const signalled = Date.now()
    a.child.kill('SIGTERM')
    const end = await a.exit
    expect(end.code).to.equal(0)
    // A bound, not a measurement: the grace period is 500 ms, the AMQP transport's own default
    // 10 s; what ends it here is the one grace period, counted once.
    expect(Date.now() - signalled, 'exited within the grace period and some slack').to.be.below(5000)
    expect(a.done).to.deep.equal([])
    // Another instance gets all five.
    const b = await spawnInstance('b')
    await waitFor(() => b.done.length === 5, 'the new instance to do the five returned tasks', 15_000)
    expect([...b.done].sort()).to.deep.equal([0, 1, 2, 3, 4])
  })

  it('after SIGKILL under load, loses no task whose publish was confirmed', async () => {
    const a = await spawnInstance('a', [], { TALLY_WORK_MS: '20' })
    const stream = streamTasks(gateway)
    await waitFor(() => a.done.length >= 50, 'the first instance to handle 50 tasks', 20_000)
    a.child.kill('SIGKILL')
    const killed = await a.exit
    expect(killed.signal).to.equal('SIGKILL')
    const b = await spawnInstance('b', [], { TALLY_WORK_MS: '20' })
    await waitFor(() => b.done.length >= 50, 'the second instance to handle 50 tasks', 20_000)
    await stream.stop()
    const done = new Set([...a.done, ...b.done])
    await waitFor(
      () => {
        for (const n of b.done) done.add(n)
        return stream.confirmed.every((n) => done.has(n))
      },
      'every confirmed task to be handled',
      20_000,
    )
    expect(stream.confirmed.length).to.be.above(100)
  })

  it('rolls two instances over to two new ones under steady HTTP and AMQP load: no request fails, no task is lost', async () => {
    const flags = ['--drain-delay-ms', '500', '--grace-ms', '5000']
    const env = { TALLY_WORK_MS: '5' }
    // The load balancer: round robin over the instances whose /readyz said 200 at its last
    // poll (every 25 ms), with clients that never retry.
    const pool: { inst: Instance; ready: boolean; agent: Agent }[] = []
    let polling = true
    const add = (inst: Instance) => {
      const entry = { inst, ready: false, agent: new Agent({ keepAlive: true, maxSockets: 8 }) }
      pool.push(entry)
      void (async () => {
        while (polling && entry.inst.child.exitCode === null) {
          entry.ready = await get(inst.http, '/readyz').then(
            (s) => s === 200,
            () => false,
          )
          await new Promise((r) => setTimeout(r, 25))
        }
        entry.ready = false
      })()
      return waitFor(() => entry.ready, `instance ${inst.label} to be ready`, 10_000)
    }
    await add(await spawnInstance('a', flags, env))
    await add(await spawnInstance('b', flags, env))

    let next = 0
    let loading = true
    const ok: number[] = []
    const failures: string[] = []
    const clients = Array.from({ length: 4 }, async () => {
      while (loading) {
        const ready = pool.filter((p) => p.ready)
        if (ready.length === 0) {
          failures.push('no instance ready')
          await new Promise((r) => setTimeout(r, 10))
          continue
        }
        const target = ready[next++ % ready.length]!
        try {
          const r = await act(target.inst.http, { role: 'tally', cmd: 'count', ms: 5 }, target.agent)
          if (r.status === 200) ok.push(JSON.parse(r.body).pid)
          else failures.push(`${target.inst.label}: ${r.status} ${r.body}`)
        } catch (err) {
          failures.push(`${target.inst.label}: ${(err as Error).message}`)
        }
      }
    })
    const stream = streamTasks(gateway)
    const pause = () => new Promise((r) => setTimeout(r, 500))

    await pause()
    for (const old of ['a', 'b']) {
      const fresh = await spawnInstance(old === 'a' ? 'c' : 'd', flags, env)
      await add(fresh)
      const leaving = instances.find((i) => i.label === old)!
      leaving.child.kill('SIGTERM')
      expect((await leaving.exit).code, `instance ${old} exit code`).to.equal(0)
      await pause()
    }
    loading = false
    await Promise.all(clients)
    await stream.stop()
    polling = false
    for (const p of pool) p.agent.destroy()

    expect(failures, 'failed HTTP requests').to.deep.equal([])
    expect(stream.failed, 'failed task publishes').to.deep.equal([])
    // Every instance answered some requests, the old ones and the new ones.
    expect(new Set(ok).size).to.equal(4)
    await waitFor(
      () => {
        const done = new Set(instances.flatMap((i) => i.done))
        return stream.confirmed.every((n) => done.has(n))
      },
      'every confirmed task to be handled',
      20_000,
    )
  })
})
