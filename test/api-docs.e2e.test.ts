import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/*
 * Generates the API reference from the TSDoc comments as `npm run docs:api` does (typedoc.json:
 * every public entry point, a `{@link}` that resolves to nothing or to something left out of
 * the reference fails the run), then follows every link inside the output: each must reach a
 * page of it, and an `#anchor` an element of that page.
 */

const root = fileURLToPath(new URL('..', import.meta.url))

describe('the API reference (npm run docs:api)', function () {
  this.timeout(60_000)
  const out = mkdtempSync(join(tmpdir(), 'first2_api-'))

  after(() => rmSync(out, { recursive: true, force: true }))

  it('generates without a broken link, and every link in it reaches its page and anchor', async () => {
    const { code, output } = await typedoc(['--out', out])
    expect(code, output).to.equal(0)
    const pages = htmlUnder(out)
    expect(pages.map((p) => relative(out, p))).to.include.members([
      'index.html',
      'modules/stoa.html',
      'modules/stoa_web.html',
    ])

    const ids = new Map<string, Set<string>>()
    const idsOf = (page: string): Set<string> => {
      let found = ids.get(page)
      if (found === undefined) {
        found = new Set([...readFileSync(page, 'utf8').matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!))
        ids.set(page, found)
      }
      return found
    }
    const broken: string[] = []
    for (const page of pages) {
      for (const [, href] of readFileSync(page, 'utf8').matchAll(/\shref="([^"]*)"/g)) {
        if (href === undefined || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('//')) continue
        const [path = '', anchor] = href.split('#')
        const target = path === '' ? page : resolve(dirname(page), decodeURIComponent(path))
        if (!existsSync(target)) broken.push(`${relative(out, page)}: ${href} (no such page)`)
        else if (anchor !== undefined && anchor !== '' && target.endsWith('.html') && !idsOf(target).has(anchor))
          broken.push(`${relative(out, page)}: ${href} (no such anchor)`)
      }
    }
    expect(broken).to.deep.equal([])
  })
})

/** Runs TypeDoc with the repository's typedoc.json and `args`, resolving with its exit code and output. */
function typedoc(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('error', fail)
    child.once('close', (code) => done({ code, output }))
  })
}

/** Every HTML page under `dir`. */
function htmlUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.html'))
    .map((e) => join(e.parentPath, e.name))
}
