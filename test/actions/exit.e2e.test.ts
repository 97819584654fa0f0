import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Runs a script against the built kernel and resolves with its exit code, or 'hung'. */
function run(script: string, boundMs: number): Promise<number | 'hung'> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: 'inherit' })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve('hung')
    }, boundMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve(code ?? -1)
    })
  })
}

describe('actions/kernel: the deadline timer never holds a process open', function () {
  this.timeout(30000)

  it('lets a script exit once its last async act is done, without close()', async () => {
    const script = `
      import { createStoa } from './dist/actions/index.js'
      const s = createStoa({ timeoutMs: 60000 })
      s.add('role:slow', () => new Promise((r) => setTimeout(() => r(1), 20)))
      const out = await s.act('role:slow')
      if (out !== 1) process.exit(3)
    `
    expect(await run(script, 15000)).to.equal(0)
  })

  it('keeps the process until a stuck act times out, so it fails instead of vanishing', async () => {
    const script = `
      import { createStoa } from './dist/actions/index.js'
      const s = createStoa({ logger: { error() {}, warn() {}, info() {}, debug() {} } })
      s.add('role:stuck', () => new Promise(() => {}))
      try { await s.act('role:stuck', {}, { timeoutMs: 200 }); process.exit(4) }
      catch (e) { process.exit(e.code === 'TIMEOUT' ? 7 : 5) }
    `
    expect(await run(script, 15000)).to.equal(7)
  })
})
