import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import pg from 'pg'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'

const WORKER = fileURLToPath(new URL('../../fixtures/saga/worker.ts', import.meta.url))

interface Run {
  child: ChildProcess
  lines: Record<string, unknown>[]
  /** Resolves when the process has ended, with its signal. */
  exit: Promise<NodeJS.Signals | null>
}

/** `promise`, or a failure naming `what` after `ms`: a worker that never ends fails the test soon. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** Every worker a test started, killed (by its handle) if a test left it running. */
const workers: ChildProcess[] = []

function start(env: Record<string, string>, onLine?: (line: Record<string, unknown>, run: Run) => void): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  workers.push(child)
  let err = ''
  child.stderr!.on('data', (d) => {
    err += String(d)
  })
  const run: Run = {
    child,
    lines: [],
    exit: new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => {
        if (code !== null && code !== 0) reject(new Error(`worker exited ${code}: ${err}`))
        else resolve(signal)
      })
    }),
  }
  let out = ''
  child.stdout!.on('data', (d) => {
    out += String(d)
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = JSON.parse(out.slice(0, nl)) as Record<string, unknown>
      out = out.slice(nl + 1)
      run.lines.push(line)
      onLine?.(line, run)
    }
  })
  return run
}

/**
 * A saga worker SIGKILLed after a participant's effect was committed and before the step was
 * recorded, then after a step was recorded, during a sleep, during a wait and during a
 * compensation: each next worker (the same
 * executor id, as a restarted pod) resumes the saga, and every participant's effect happens
 * once though its call was made again.
 */
describe('sagas on DBOS: SIGKILL of the worker', function () {
  this.timeout(120_000)
  let db: TestDatabase
  before(async () => {
    db = await createTestDatabase('stoa_saga')
  })
  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL')
    await db?.drop()
  })

  it('resumes after each kill and finishes, every effect once', async () => {
    const env = { DATABASE_URL: db.url, ST_SAGA: 'trip-1' }
    // 1. Killed once reserve's effect is committed, before the step is recorded.
    const w1 = start({ ...env, ST_WORKER: 'w1', ST_CRASH: 'after:reserve' })
    expect(await within(w1.exit, 30_000, 'worker w1')).to.equal('SIGKILL')
    // 2. reserve is called again (the inbox answers it), recorded; killed as charge is called.
    const w2 = start({ ...env, ST_WORKER: 'w2', ST_CRASH: 'before:charge' })
    expect(await within(w2.exit, 30_000, 'worker w2')).to.equal('SIGKILL')
    // 3. Killed during the sleep.
    const w3 = start({ ...env, ST_WORKER: 'w3' }, (line, run) => {
      if (line.state === 'sleeping') run.child.kill('SIGKILL')
    })
    expect(await within(w3.exit, 30_000, 'worker w3')).to.equal('SIGKILL')
    // 4. Sleeps what is left and finishes.
    const w4 = start({ ...env, ST_WORKER: 'w4' })
    expect(await within(w4.exit, 30_000, 'worker w4')).to.equal(null)

    const calls = (r: Run) => r.lines.filter((l) => 'call' in l).map((l) => l.call)
    expect(calls(w1)).to.deep.equal(['reserve'])
    expect(calls(w2)).to.deep.equal(['reserve', 'charge'])
    expect(calls(w3)).to.deep.equal(['charge'])
    expect(calls(w4)).to.deep.equal(['ship'])
    expect(w3.lines.some((l) => l.state === 'sleeping')).to.equal(true)
    expect(w4.lines.at(-1)).to.deep.equal({ state: 'completed' })

    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query('SELECT step, worker FROM saga_effects ORDER BY step')
      expect(rows).to.deep.equal([
        { step: 'charge', worker: 'w3' },
        { step: 'reserve', worker: 'w1' },
        { step: 'ship', worker: 'w4' },
      ])
    } finally {
      await client.end()
    }
  })

  const effects = async (saga: string): Promise<{ step: string; worker: string }[]> => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query<{ step: string; worker: string }>(
        'SELECT step, worker FROM saga_effects WHERE worker LIKE $1 ORDER BY step',
        [`${saga}-%`],
      )
      return rows
    } finally {
      await client.end()
    }
  }

  it('resumes a saga killed during its wait: it waits on, takes the signal and finishes, every effect once', async () => {
    const env = { DATABASE_URL: db.url, ST_SAGA: 'trip-3', ST_FLOW: 'wait', ST_EXECUTOR: 'trips-3' }
    // 1. Killed while it waits for "shipped".
    const w1 = start({ ...env, ST_WORKER: 'trip-3-w1' }, (line, run) => {
      if (line.state === 'waiting') run.child.kill('SIGKILL')
    })
    expect(await within(w1.exit, 30_000, 'worker w1')).to.equal('SIGKILL')
    // 2. The restarted worker finds it waiting again, signals it, and it ships.
    const w2 = start({ ...env, ST_WORKER: 'trip-3-w2', ST_SIGNAL: '1' })
    expect(await within(w2.exit, 30_000, 'worker w2')).to.equal(null)
    const calls = (r: Run) => r.lines.filter((l) => 'call' in l).map((l) => l.call)
    expect(calls(w1)).to.deep.equal(['reserve', 'charge'])
    expect(calls(w2)).to.deep.equal(['ship'])
    expect(w2.lines.map((l) => l.state).filter(Boolean)).to.deep.equal(['waiting', 'completed'])
    expect(await effects('trip-3')).to.deep.equal([
      { step: 'charge', worker: 'trip-3-w1' },
      { step: 'reserve', worker: 'trip-3-w1' },
      { step: 'ship', worker: 'trip-3-w2' },
    ])
  })

  it('resumes a saga killed during its compensation: each undo once, in reverse order, ending compensated', async () => {
    const env = { DATABASE_URL: db.url, ST_SAGA: 'trip-4', ST_FLOW: 'undo', ST_EXECUTOR: 'trips-4' }
    // 1. pay is refused; killed once undo:charge's effect is committed, before the undo is recorded.
    const w1 = start({ ...env, ST_WORKER: 'trip-4-w1', ST_CRASH: 'after:undo:charge' })
    expect(await within(w1.exit, 30_000, 'worker w1')).to.equal('SIGKILL')
    // 2. undo:charge is called again (the inbox answers it), then undo:reserve.
    const w2 = start({ ...env, ST_WORKER: 'trip-4-w2' })
    expect(await within(w2.exit, 30_000, 'worker w2')).to.equal(null)
    const calls = (r: Run) => r.lines.filter((l) => 'call' in l).map((l) => l.call)
    expect(calls(w1)).to.deep.equal(['reserve', 'charge', 'pay', 'undo:pay', 'undo:charge'])
    expect(calls(w2)).to.deep.equal(['undo:charge', 'undo:reserve'])
    expect(w2.lines.at(-1)).to.deep.equal({ state: 'compensated' })
    expect(await effects('trip-4')).to.deep.equal([
      { step: 'charge', worker: 'trip-4-w1' },
      { step: 'reserve', worker: 'trip-4-w1' },
      { step: 'undo:charge', worker: 'trip-4-w1' },
      { step: 'undo:pay', worker: 'trip-4-w1' },
      { step: 'undo:reserve', worker: 'trip-4-w2' },
    ])
  })

  it("takes over a dead worker's sagas: another worker finishes them", async () => {
    const env = { DATABASE_URL: db.url, ST_SAGA: 'trip-2', ST_TAKEOVER_MS: '1000' }
    // b runs beside a, which starts the saga and dies in its sleep; b never triggers it.
    const b = start({ ...env, ST_WORKER: 'b', ST_EXECUTOR: 'b', ST_TRIGGER: '0' })
    const a = start({ ...env, ST_WORKER: 'a', ST_EXECUTOR: 'a' }, (line, run) => {
      if (line.state === 'sleeping') run.child.kill('SIGKILL')
    })
    expect(await within(a.exit, 30_000, 'worker a')).to.equal('SIGKILL')
    const ended = await within(b.exit, 30_000, 'worker b').catch((err: unknown) => {
      b.child.kill('SIGKILL')
      throw err
    })
    expect(ended).to.equal(null)
    expect(b.lines.filter((l) => 'call' in l).map((l) => l.call)).to.deep.equal(['ship'])
    expect(b.lines.at(-1)).to.deep.equal({ state: 'completed' })
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query(
        "SELECT step, worker FROM saga_effects WHERE worker IN ('a', 'b') ORDER BY step",
      )
      expect(rows).to.deep.equal([
        { step: 'charge', worker: 'a' },
        { step: 'reserve', worker: 'a' },
        { step: 'ship', worker: 'b' },
      ])
    } finally {
      await client.end()
    }
  })
})
