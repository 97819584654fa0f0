import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import type { Browser } from 'playwright-core'
import { chromium } from 'playwright-core'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { authService } from '../../../examples/vote/services/auth.js'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import type { GatewayServer } from '../../../examples/vote/web/server.js'
import { serveGateway } from '../../../examples/vote/web/server.js'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { quietLogger } from '../../helpers/wait.js'

const SECRET = 'ct-reference-test-secret-of-forty-chars'

describe('plugins/contracts: the reference page calls the vote API from a browser', function () {
  this.timeout(120_000)
  const profile = mkdtempSync(join(tmpdir(), 'ct-chromium-'))
  let browser: Browser | undefined
  let gateway: Stoa<any>
  let auth: Stoa<any>
  let tally: Stoa<any>
  let server: GatewayServer
  const recorded: unknown[] = []
  let executable = ''

  before(async function () {
    executable = requireProgram(this, PROGRAMS.chromium)
    const bus = createMemoryBus()
    tally = createStoa({ name: 'tally', logger: quietLogger() }).add('task:tally.vote.record', (msg) => {
      recorded.push(msg)
    })
    tally.listen(createMemoryTransport({ bus }))
    auth = authService(SECRET).create({ logger: quietLogger() })
    auth.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    gateway = gatewayService(SECRET).create({ logger: quietLogger() })
    gateway.client(createMemoryTransport({ bus }), ['role:auth'])
    await Promise.all([tally.ready(), auth.ready(), gateway.ready()])
    server = await serveGateway(gateway)
  })
  after(async () => {
    await browser?.close()
    await server?.close()
    for (const s of [gateway, auth, tally]) await s?.close()
    rmSync(profile, { recursive: true, force: true })
  })

  it('logs in and casts a vote from the forms of /docs, with no CSP violation', async () => {
    browser = await chromium.launch({
      executablePath: executable,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    })
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text())
    })
    page.on('pageerror', (err) => problems.push(err.message))
    const response = await page.goto(`${server.url}/docs`)
    expect(response?.headers()['content-security-policy']).to.include("default-src 'none'")
    await page.waitForSelector('[id="op-vote.cast"]')
    expect(await page.textContent('#title')).to.match(/^vote/)

    await page.fill('[aria-label="request body of auth.login"]', '{"name":"Ada"}')
    await page.click('button[data-op="auth.login"]')
    await page.waitForSelector('[aria-label="answer of auth.login"][data-status="200"]')
    // The login cookie now authenticates the vote, sent from this origin.
    await page.fill('[aria-label="request body of vote.cast"]', '{"choice":"cats"}')
    await page.click('button[data-op="vote.cast"]')
    await page.waitForSelector('[aria-label="answer of vote.cast"][data-status="202"]')
    expect(await page.textContent('[aria-label="answer of vote.cast"]')).to.include('voteId')
    expect(recorded).to.have.length(1)
    expect(recorded[0]).to.deep.include({ voter: 'ada', choice: 'cats' })
    // A refused call shows the error table's answer.
    await page.fill('[aria-label="request body of vote.cast"]', '{"choice":"birds"}')
    await page.click('button[data-op="vote.cast"]')
    await page.waitForSelector('[aria-label="answer of vote.cast"][data-status="400"]')
    expect(await page.textContent('[aria-label="answer of vote.cast"]')).to.include('INVALID_MESSAGE')
    expect(problems.filter((p) => !/status of 400/.test(p))).to.deep.equal([])
  })
})
