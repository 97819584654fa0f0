import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { buildDockerfile, debianInstalled, imagePath, startImage } from '../../helpers/dockerfile.js'
import { freePort } from '../../helpers/ports.js'
import { packedTarball } from '../../helpers/tarball.js'
import { waitFor } from '../../helpers/wait.js'
import { deleteDeclared } from '../broker.js'
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

  it("--kind worker: the Dockerfile's steps run for real, and the service starts under tini, passes its HEALTHCHECK and drains on SIGTERM", async () => {
    // The build context: the project as generated, its stoa the packed tarball (npm is offline:
    // the third-party packages come from npm's cache, as the install above left them).
    const context = join(dir, 'worker-context')
    cpSync(join(dir, 'worker'), context, { recursive: true, filter: (p) => !p.includes('node_modules') })
    const pkg = JSON.parse(readFileSync(join(context, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
    pkg.dependencies.stoa = `file:${packedTarball()}`
    writeFileSync(join(context, 'package.json'), JSON.stringify(pkg))
    const stages = buildDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'), context, {
      env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
    })
    const prefix = `d27-new-${randomBytes(4).toString('hex')}`
    try {
      const last = stages.at(-1)!
      for (const p of last.aptPackages) expect(debianInstalled(p), p).to.equal(true)
      expect(readdirSync(imagePath(last, '.')).sort()).to.deep.equal(
        [
          '.dockerignore',
          'Dockerfile',
          'k8s.yaml',
          'node_modules',
          'package-lock.json',
          'package.json',
          'plugin.js',
          'service.js',
          'service.test.js',
        ].sort(),
      )
      const port = await freePort()
      const image = startImage(last, {
        container: (a) =>
          a
            .replace('amqp://rabbitmq:5672', `amqp://127.0.0.1:5672?prefix=${prefix}`)
            .replace(/(0\.0\.0\.0|127\.0\.0\.1):9090\b/, `$1:${port}`),
      })
      const exited = new Promise<number | null>((resolve) => image.child.once('exit', (code) => resolve(code)))
      await waitFor(() => image.healthcheck() === 0 || image.child.exitCode !== null, 'the HEALTHCHECK', 60_000)
      expect(image.child.exitCode, image.output()).to.equal(null)
      expect(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${image.child.pid}/status`, 'utf8'))![1])).to.equal(1000)
      image.child.kill('SIGTERM')
      expect(await exited, image.output()).to.equal(0)
      expect(image.output()).to.match(/demo-worker/)
    } finally {
      for (const s of stages) rmSync(join(s.root, '..'), { recursive: true, force: true })
      await deleteDeclared(prefix)
    }
  })

  it('refuses a folder that is not empty, a bad name and an unknown kind', async () => {
    expect((await run(['new', 'x', '--dir', join(dir, 'worker')])).code).to.equal(2)
    expect((await run(['new', 'Bad_Name', '--dir', join(dir, 'bad')])).code).to.equal(2)
    expect((await run(['new', 'x', '--kind', 'cron', '--dir', join(dir, 'bad')])).code).to.equal(2)
  })
})
