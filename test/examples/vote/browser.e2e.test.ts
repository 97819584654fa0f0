import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import type { BrowserContext, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { PROGRAMS, requireProgram } from '../../helpers/binaries.js'
import { exited, startDemo } from '../../helpers/vote-demo.js'

/** Debian's chromium, kept off the network: no updates, no background traffic, a fresh profile. */
function launch(profile: string, executablePath: string): Promise<BrowserContext> {
  // playwright passes the profile directory as --user-data-dir itself.
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  })
}

describe('examples/vote in a browser: log in, vote, see it counted', function () {
  this.timeout(180_000)
  const dataDir = mkdtempSync(join(tmpdir(), 'vote-browser-'))
  const profile = mkdtempSync(join(tmpdir(), 'vote-chromium-'))
  let child: ChildProcess | undefined
  let context: BrowserContext | undefined
  let browser = ''

  before(function () {
    browser = requireProgram(this, PROGRAMS.chromium)
  })
  after(async () => {
    await context?.close()
    if (child !== undefined) {
      child.kill('SIGTERM')
      await exited(child)
    }
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(profile, { recursive: true, force: true })
  })

  it('counts the first vote and a second vote by the same voter as a duplicate, live', async () => {
    const demo = await startDemo(dataDir)
    child = demo.child
    context = await launch(profile, browser)
    const problems: string[] = []
    const watch = (page: Page) => {
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text())
      })
      page.on('pageerror', (err) => problems.push(err.message))
    }
    const voting = await context.newPage()
    watch(voting)
    const response = await voting.goto(`${demo.url}/`)
    expect(response?.headers()['content-security-policy']).to.include("default-src 'none'")
    await voting.fill('#name', 'Grace')
    await voting.click('#login-button')
    await voting.waitForSelector('#ballot:not([hidden])')
    expect(await voting.textContent('#voter')).to.equal('grace')
    // The token lives in an HttpOnly cookie: the page's script never holds it.
    const cookie = (await context.cookies()).find((c) => c.name === 'stoa_token')
    expect(cookie?.httpOnly).to.equal(true)
    expect(await voting.evaluate(() => document.cookie)).to.equal('')

    const results = await context.newPage()
    watch(results)
    await results.goto(`${demo.url}/results`)
    await results.waitForFunction(() => document.getElementById('live')?.textContent?.startsWith('live'))

    await voting.click('#vote-cats')
    await voting.waitForFunction(() => document.getElementById('status')?.textContent?.includes('accepted'))
    // The results page is not reloaded: the counts arrive as server-sent events.
    await results.waitForFunction(() => document.getElementById('total')?.textContent === '1', undefined, {
      timeout: 15_000,
    })
    expect(await results.textContent('#cats')).to.equal('1')
    expect(await results.textContent('#duplicates')).to.equal('0')

    await voting.click('#vote-dogs')
    await voting.waitForFunction(() => document.getElementById('status')?.textContent?.includes('dogs accepted'))
    await results.waitForFunction(() => document.getElementById('duplicates')?.textContent === '1', undefined, {
      timeout: 15_000,
    })
    expect(await results.textContent('#total')).to.equal('1')
    expect(await results.textContent('#cats')).to.equal('1')
    expect(await results.textContent('#dogs')).to.equal('0')
    expect(problems, 'errors in the pages (a CSP violation among them)').to.deep.equal([])
  })
})
