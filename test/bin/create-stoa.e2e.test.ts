import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { root } from '../../bench/install/kit.js'
import { packedTarball } from '../helpers/tarball.js'

const CREATE = join(root, 'bin', 'create-stoa')
const FILES = ['.dockerignore', 'Dockerfile', 'k8s.yaml', 'package.json', 'plugin.js', 'service.js', 'service.test.js']

/**
 * `npm create stoa` and `npx stoa new` as someone starting a new repository runs them, from the
 * packed tarballs of stoa and create-stoa, with npm offline: a command that needed the registry
 * would fail (npm's cache holds the third-party packages from earlier installs).
 */
describe('npm create stoa and npx stoa new: a new project from the packed tarballs, offline', function () {
  this.timeout(300_000)
  const offline = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' }
  let dir: string
  let stoa: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'd27-create-stoa-'))
    stoa = packedTarball()
    execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: CREATE, stdio: 'ignore' })
    // Where npm create looks first: the folder's own node_modules/.bin.
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'workspace', private: true }))
    const create = join(dir, readdirSync(dir).find((f) => f.startsWith('create-stoa-'))!)
    execFileSync('npm', ['install', '--no-audit', '--no-fund', stoa, create], {
      cwd: dir,
      env: offline,
      stdio: 'ignore',
    })
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('create-stoa is published in step with stoa: same version, and depends on it', () => {
    const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    const create = JSON.parse(readFileSync(join(CREATE, 'package.json'), 'utf8')) as {
      version: string
      dependencies: Record<string, string>
      bin: Record<string, string>
    }
    expect(create.version).to.equal(own.version)
    expect(create.dependencies).to.deep.equal({ stoa: `^${own.version}` })
    expect(create.bin).to.deep.equal({ 'create-stoa': 'index.js' })
  })

  it('npm create stoa <name> -- --kind gateway writes a project whose own npm test passes', () => {
    const out = execFileSync('npm', ['create', 'stoa', 'greeter', '--', '--kind', 'gateway'], {
      cwd: dir,
      env: offline,
      encoding: 'utf8',
    })
    expect(out).to.match(/"service":"greeter","kind":"gateway"/)
    const project = join(dir, 'greeter')
    expect(readdirSync(project).sort()).to.deep.equal(FILES)
    execFileSync('npm', ['install', '--no-audit', '--no-fund', stoa], { cwd: project, env: offline, stdio: 'ignore' })
    const test = execFileSync('npm', ['test'], { cwd: project, env: offline, encoding: 'utf8', stdio: 'pipe' })
    expect(test).to.match(/# pass 2/)
    expect(test).to.match(/# fail 0/)
  })

  it('npx stoa new <name> --kind step does the same, and refuses a bad name with the usage exit code', () => {
    execFileSync('npx', ['stoa', 'new', 'nightly', '--kind', 'step'], { cwd: dir, env: offline, stdio: 'ignore' })
    const project = join(dir, 'nightly')
    expect(readdirSync(project).sort()).to.deep.equal(FILES)
    // Its dependencies are the gateway's less amqplib: the same installed folder serves.
    symlinkSync(join(dir, 'greeter', 'node_modules'), join(project, 'node_modules'), 'dir')
    const test = execFileSync('npm', ['test'], { cwd: project, env: offline, encoding: 'utf8', stdio: 'pipe' })
    expect(test).to.match(/# pass 2/)
    let code = 0
    try {
      execFileSync('npm', ['create', 'stoa', 'Bad_Name'], { cwd: dir, env: offline, stdio: 'ignore' })
    } catch (err) {
      code = (err as { status: number }).status
    }
    expect(code, 'npm create passes on stoa new refusing the name').to.not.equal(0)
  })
})
