import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { packedTarball } from '../../helpers/tarball.js'
import { run } from '../run.js'

describe('stoa new: a generated service passes its own npm test', function () {
  this.timeout(300_000)
  let dir: string
  let installed: string | undefined
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ops_stoa-new-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const kind of ['worker', 'gateway', 'step'] as const) {
    it(`--kind ${kind}: writes the project, installs stoa from the packed tarball, and npm test passes`, async () => {
      const project = join(dir, kind)
      const r = await run(['new', `demo-${kind}`, '--kind', kind, '--dir', project])
      expect(r.code, r.stderr).to.equal(0)
      expect(readdirSync(project).sort()).to.deep.equal(
        [
          '.dockerignore',
          'Dockerfile',
          'k8s.yaml',
          'package.json',
          'plugin.js',
          'service.js',
          'service.test.js',
        ].sort(),
      )
      // The project's own dependencies, with stoa from this checkout's tarball, as a user's
      // `npm install` would give them (from npm's cache where it can). Installed once: the
      // other kinds depend on the same packages (the step on fewer), and share the folder.
      if (installed === undefined) {
        execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', packedTarball()], {
          cwd: project,
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        installed = join(project, 'node_modules')
      } else symlinkSync(installed, join(project, 'node_modules'), 'dir')
      const out = execFileSync('npm', ['test'], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      expect(out).to.match(/# pass 2/)
      expect(out).to.match(/# fail 0/)
      const config = execFileSync(process.execPath, ['node_modules/stoa/dist/bin/stoa.js', 'config', 'service.js'], {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, GREETING: 'hey' },
      })
      expect(JSON.parse(config)).to.deep.equal({
        service: `demo-${kind}`,
        config: { GREETING: 'hey' },
        origin: { GREETING: 'env' },
      })
    })
  }

  it('refuses a folder that is not empty, a bad name and an unknown kind', async () => {
    expect((await run(['new', 'x', '--dir', join(dir, 'worker')])).code).to.equal(2)
    expect((await run(['new', 'Bad_Name', '--dir', join(dir, 'bad')])).code).to.equal(2)
    expect((await run(['new', 'x', '--kind', 'cron', '--dir', join(dir, 'bad')])).code).to.equal(2)
  })
})
