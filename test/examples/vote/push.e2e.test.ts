import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import pg from 'pg'
import type { BrowserContext, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { signToken } from 'stoa/jwt'
import type { Cluster } from '../../../examples/vote/cluster.js'
import { startCluster } from '../../../examples/vote/cluster.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const SECRET = randomBytes(32).toString('base64url')

/** The records of a server-sent events stream read with fetch, until `stop()`. */
function readStream(url: string): { events: string[]; stop(): void } {
  const abort = new AbortController()
  const events: string[] = []
  void (async () => {
    try {
      const res = await fetch(url, { signal: abort.signal })
      let buf = ''
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8')
        for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
          events.push(buf.slice(0, at))
          buf = buf.slice(at + 2)
        }
      }
    } catch {
      // stopped
    }
  })()
  return { events, stop: () => abort.abort() }
}

describe('examples/vote results pushed through nginx to pages on any gateway, no sticky sessions', function () {
  this.timeout(240_000)
  const prefix = uniquePrefix('edpush')
  const database = `ed_push_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_URL })
  const profile = mkdtempSync(join(tmpdir(), 'ed-push-chromium-'))
  let cluster: Cluster | undefined
  let context: BrowserContext | undefined
  let browser = ''
  let nginx: string | undefined
  const output: string[] = []

  before(async function () {
    nginx = requireProgram(this, PROGRAMS.nginx)
    browser = requireProgram(this, PROGRAMS.chromium)
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
  })
  after(async () => {
    if (nginx === undefined || browser === '') return
    await context?.close()
    await cluster?.stop(5000)
    await deleteTopology(prefix, ['tally', 'auth', 'results', 'vote']).catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    await admin.end()
    rmSync(profile, { recursive: true, force: true })
  })

  it('a results page on each gateway and one through nginx see the votes cast through either gateway', async () => {
    const dbUrl = new URL(PG_URL)
    dbUrl.pathname = `/${database}`
    cluster = await startCluster({
      gateways: 2,
      workers: 2,
      port: 0,
      amqpUrl: AMQP_URL,
      databaseUrl: dbUrl.toString(),
      prefix,
      jwtSecret: SECRET,
      log: (name, line) => output.push(`[${name}] ${line}`),
    })
    const [g1, g2] = cluster.gateways.map((g) => g.url!)
    context = await chromium.launchPersistentContext(profile, {
      executablePath: browser,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    })
    const problems: string[] = []
    const open = async (base: string): Promise<Page> => {
      const page = await context!.newPage()
      page.on('pageerror', (err) => problems.push(err.message))
      await page.goto(`${base}/results`)
      await page.waitForFunction(() => document.getElementById('live')?.textContent?.startsWith('live'))
      return page
    }
    const pages = [await open(g1!), await open(g2!), await open(cluster.url)]
    // What the pages listen to, through nginx: one vote.recorded per committed vote.
    const stream = readStream(`${cluster.url}/api/results/stream`)
    try {
      const votes = 6
      for (let i = 0; i < votes; i++) {
        const token = signToken({ sub: `voter-${i}`, roles: ['voter'] }, { secret: SECRET, expiresInSec: 600 })
        // Alternately through each gateway directly, so each page's gateway is not always the one voted on.
        const res = await fetch(`${i % 2 === 0 ? g1 : g2}/api/votes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ choice: i < 4 ? 'cats' : 'dogs' }),
        })
        expect(res.status, await res.text()).to.equal(202)
      }
      for (const page of pages) {
        await page.waitForFunction(() => document.getElementById('total')?.textContent === '6', undefined, {
          timeout: 60_000,
        })
        expect(await page.textContent('#cats')).to.equal('4')
        expect(await page.textContent('#dogs')).to.equal('2')
      }
      const start = Date.now()
      while (
        stream.events.filter((e) => e.includes('event: vote.recorded')).length < votes &&
        Date.now() - start < 30_000
      )
        await new Promise((r) => setTimeout(r, 50))
      const recorded = stream.events.filter((e) => e.includes('event: vote.recorded'))
      expect(recorded, output.slice(-30).join('\n')).to.have.length(votes)
      expect(problems).to.deep.equal([])
    } finally {
      stream.stop()
    }
  })
})
