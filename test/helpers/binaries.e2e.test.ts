import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'

const root = new URL('../../', import.meta.url).pathname
const MOCHA = createRequire(import.meta.url).resolve('mocha/bin/mocha.js')

/** Runs mocha on `file` with `PATH` set to `path` only; resolves with its exit code and output. */
function mocha(file: string, path: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [MOCHA, '--reporter', 'spec', file], {
    cwd: root,
    env: { ...process.env, PATH: path },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })))
}

describe('a test that needs a missing program, on a machine without it', function () {
  this.timeout(60_000)
  // A PATH with node alone: no prometheus on it.
  const bin = mkdtempSync(join(tmpdir(), 'stoa-lambda-path-'))
  symlinkSync(process.execPath, join(bin, 'node'))
  after(() => rmSync(bin, { recursive: true, force: true }))

  it('is skipped, counted as pending, with one line naming what to install, and the run passes', async () => {
    const { code, out } = await mocha('test/plugins/metrics/prometheus.int.test.ts', bin)
    expect(out).to.include(
      '  skipped "metrics scraped by a real Prometheus server": prometheus is not installed (looked in PATH): ' +
        'install it with `apt-get install prometheus` (.ci/run does)',
    )
    expect(out).to.match(/\b0 passing\b/)
    expect(out).to.match(/\b[1-9]\d* pending\b/)
    expect(out).not.to.match(/failing|done\(\) called multiple times|exited with/)
    expect(code).to.equal(0)
  })
})
