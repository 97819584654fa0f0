import type { ChildProcess } from 'node:child_process'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { expect } from 'chai'
import pg from 'pg'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'

const root = new URL('../../../', import.meta.url).pathname
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const run = promisify(execFile)

describe('npm run vote:cluster: one command starts the cluster and SIGTERM stops all of it', function () {
  this.timeout(120_000)
  const prefix = uniquePrefix('vcli')
  const database = `vote_cluster_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })

  let nginx: string | undefined

  before(function () {
    // The cluster puts nginx in front of its gateways.
    nginx = requireProgram(this, PROGRAMS.nginx)
    return admin.connect()
  })
  after(async () => {
    // Skipped before connecting: nothing to clean up.
    if (nginx === undefined) return
    await deleteTopology(prefix, ['tally', 'auth', 'results', 'vote']).catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('creates the database, serves votes through nginx, and exits 0 with every child gone', async () => {
    const url = new URL(PG_URL)
    url.pathname = `/${database}`
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/vote/cluster.ts', '--gateways', '2', '--workers', '1', '--port', '0'],
      {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: url.toString(),
          AMQP_URL,
          VOTE_PREFIX: prefix,
          JWT_SECRET: 'cluster-e2e-secret-of-forty-characters-x',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const front = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the cluster did not start:\n${out}\n${err}`)), 90_000)
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /vote:\s+(http:\/\/\S+)\//.exec(out)
        if (m !== null) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      })
      void exited.then((code) => reject(new Error(`the cluster exited with ${code}:\n${out}\n${err}`)))
    })
    expect(out).to.include(`creating database "${database}"`)
    const gateways = [...err.matchAll(/\[gateway-\d\] vote listening on (http:\/\/\S+)/g)].map((m) => m[1]!)
    expect(gateways).to.have.length(2)
    const login = await fetch(`${front}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"ada"}',
    })
    const { token } = (await login.json()) as { token: string }
    const vote = await fetch(`${front}/api/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"choice":"dogs"}',
    })
    expect(vote.status).to.equal(202)

    child.kill('SIGTERM')
    expect(await exited).to.equal(0)
    expect(err).to.match(/\[tally-1\] tally closing on SIGTERM/)
    for (const address of [front, ...gateways]) {
      const gone = await fetch(`${address}/api/results`).then(
        () => false,
        () => true,
      )
      expect(gone, `${address} still answers`).to.equal(true)
    }
  })
})

/** The pids of the tally workers among `parent`'s children. */
async function tallyPids(parent: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=,args=', '--ppid', String(parent)]).catch(() => ({ stdout: '' }))
  return stdout
    .split('\n')
    .filter((line) => line.includes('examples/vote/services/tally.ts'))
    .map((line) => Number.parseInt(line.trim(), 10))
}

/** Polls `check` until it holds, at most `timeoutMs`. */
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('npm run vote:cluster: a tally worker that dies is logged and replaced', function () {
  this.timeout(180_000)
  const prefix = uniquePrefix('voteops-cluster')
  const database = `vote_voteops_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  let child: ChildProcess | undefined

  before(() => admin.connect())
  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r))
      child.kill('SIGTERM')
      await gone
    }
    await deleteTopology(prefix, ['tally', 'auth', 'results', 'vote']).catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
  })

  it('logs the SIGKILL, starts a new worker after a backoff, and the new one counts votes', async () => {
    const url = new URL(PG_URL)
    url.pathname = `/${database}`
    // No JWT_SECRET: the command makes one and passes it to every child, so that the gateways
    // accept what auth signs.
    const { JWT_SECRET: _, ...env } = process.env
    child = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/vote/cluster.ts', '--gateways', '1', '--workers', '1', '--port', '0'],
      {
        cwd: root,
        env: { ...env, DATABASE_URL: url.toString(), AMQP_URL, VOTE_PREFIX: prefix },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    await until(() => /vote:\s+http:\/\/\S+\//.test(out) || child!.exitCode !== null, 'the cluster to start', 90_000)
    const front = /vote:\s+(http:\/\/\S+)\//.exec(out)?.[1]
    expect(front, `the cluster did not start:\n${out}\n${err}`).to.be.a('string')

    const [first] = await tallyPids(child.pid!)
    expect(first, 'the tally worker process').to.be.a('number')
    process.kill(first!, 'SIGKILL')
    await until(() => /tally-1.*SIGKILL/.test(err), `the exit to be logged:\n${err}`, 30_000)
    let second: number | undefined
    await until(
      async () => {
        second = (await tallyPids(child!.pid!)).find((p) => p !== first)
        return second !== undefined && /tally-1.*(restarted|started again)/.test(err)
      },
      `a new tally worker:\n${err}`,
      60_000,
    )

    const login = await fetch(`${front}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"grace"}',
    })
    expect(login.status).to.equal(200)
    const { token } = (await login.json()) as { token: string }
    const vote = await fetch(`${front}/api/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"choice":"cats"}',
    })
    expect(vote.status).to.equal(202)
    const { voteId } = (await vote.json()) as { voteId: string }
    const db = new pg.Client({ connectionString: url.toString() })
    await db.connect()
    try {
      await until(
        async () => (await db.query('SELECT 1 FROM votes WHERE vote_id = $1', [voteId])).rowCount === 1,
        'the vote to be counted by the new worker',
      )
    } finally {
      await db.end()
    }
    expect(await tallyPids(child.pid!)).to.deep.equal([second])
  })
})
