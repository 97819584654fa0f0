import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import pg from 'pg'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'

const root = new URL('../../../', import.meta.url).pathname
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

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
