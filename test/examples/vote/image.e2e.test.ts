import type { ChildProcess } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { imageContext } from '../../../examples/vote/deploy/context.js'
import { deleteDeclared } from '../../bin/broker.js'
import type { BuiltStage } from '../../helpers/dockerfile.js'
import {
  buildDockerfile,
  debianInstalled,
  debianRelease,
  imagePath,
  imageUser,
  startImage,
} from '../../helpers/dockerfile.js'
import { freePort } from '../../helpers/ports.js'
import { packedTarball } from '../../helpers/tarball.js'
import { waitFor } from '../../helpers/wait.js'

const DOCKERFILE = new URL('../../../examples/vote/deploy/Dockerfile', import.meta.url)

/**
 * The vote image's Dockerfile carried out step by step without a container runtime (none runs
 * on these machines): its stages built in folders of their own from the context
 * `npm run vote:image` makes (with this checkout's packed tarball), its production install run
 * for real, its command started from the last stage as the image's user, through the image's
 * tini, then probed with the image's own HEALTHCHECK and stopped with SIGTERM. This machine
 * stands in for the base image (Node 20 on Debian bookworm, checked) and its packages (checked
 * installed); what a container alone would give, its own network, is replaced by rewriting the
 * broker's host and the probe port in the command.
 */
describe('the vote image: the Dockerfile run for real, without a container runtime', function () {
  this.timeout(300_000)
  const prefix = `d27-image-${randomBytes(4).toString('hex')}`
  let context: string
  let stages: BuiltStage[]
  let child: ChildProcess | undefined

  before(() => {
    context = mkdtempSync(join(tmpdir(), 'vote-image-context-'))
    imageContext(context, packedTarball())
    stages = buildDockerfile(readFileSync(DOCKERFILE, 'utf8'), context, {
      env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
    })
  })

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const s of stages ?? []) rmSync(join(s.root, '..'), { recursive: true, force: true })
    rmSync(context, { recursive: true, force: true })
    await deleteDeclared(prefix)
  })

  it('builds on the base it names: this machine is Node 20 on Debian bookworm and has the Debian packages it installs', () => {
    const last = stages.at(-1)!
    expect(stages.map((s) => s.base)).to.deep.equal(['node:20-bookworm-slim', 'node:20-bookworm-slim'])
    expect(process.versions.node.split('.')[0]).to.equal('20')
    expect(debianRelease()).to.equal('bookworm')
    expect(last.aptPackages).to.deep.equal(['tini'])
    for (const p of last.aptPackages) expect(debianInstalled(p), `Debian package ${p}`).to.equal(true)
    expect(existsSync(last.entrypoint[0]!), last.entrypoint[0]).to.equal(true)
  })

  it('leaves in the last stage the services and their production dependencies alone, owned by its user', () => {
    const last = stages.at(-1)!
    const app = imagePath(last, '.')
    expect(readdirSync(app).sort()).to.deep.equal(['node_modules', 'vote'])
    const modules = readdirSync(join(app, 'node_modules'))
    expect(modules).to.include.members(['stoa', 'amqplib', 'zod', 'express', 'pg', 'jsonwebtoken'])
    // No dev tool, compiler or test runner, and no npm left behind.
    for (const dev of ['typescript', 'mocha', 'chai', 'tsx', '@biomejs', 'npm', 'typedoc'])
      expect(modules, dev).not.to.include(dev)
    expect(existsSync(join(app, 'node_modules', 'stoa', 'dist', 'bin', 'stoa.js'))).to.equal(true)
    const { uid } = imageUser(last.user)
    expect(last.user).to.equal('node')
    expect(uid).to.not.equal(0)
    expect(statSync(join(app, 'vote', 'services', 'auth.js')).uid).to.equal(uid)
    expect(statSync(join(app, 'node_modules', 'stoa', 'package.json')).uid).to.equal(uid)
  })

  it('starts its command as a non-root user under tini, passes its HEALTHCHECK, and on SIGTERM drains and exits 0', async () => {
    const last = stages.at(-1)!
    const port = await freePort()
    // The container's own network, which this test has not: the broker's host and a free port.
    const image = startImage(last, {
      env: { JWT_SECRET: 'an-image-test-secret-of-more-than-32-chars' },
      container: (a) =>
        a
          .replace('amqp://rabbitmq:5672?prefix=vote', `amqp://127.0.0.1:5672?prefix=${prefix}`)
          .replace(/(0\.0\.0\.0|127\.0\.0\.1):9090\b/, `$1:${port}`),
    })
    child = image.child
    await waitFor(() => image.healthcheck() === 0 || child!.exitCode !== null, 'the HEALTHCHECK to pass', 60_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${image.output()}`)
      },
    )
    expect(child.exitCode, image.output()).to.equal(null)
    expect(image.healthcheck()).to.equal(0)
    // PID "1" of the image is tini, running as the image's user; node is its child.
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    expect(/^Name:\s+(\S+)/m.exec(status)![1]).to.equal('tini')
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)![1])).to.not.equal(0)
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)
    expect(children).to.have.length(1)
    expect(readFileSync(`/proc/${children[0]}/comm`, 'utf8').trim()).to.equal('node')
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    // tini passed the signal on: readiness drops at once while liveness holds, for the drain delay.
    await waitFor(() => probe(port, '/readyz') === 503, '/readyz to answer 503 after SIGTERM', 4000)
    expect(probe(port, '/healthz')).to.equal(200)
    expect(await exited, image.output()).to.equal(0)
  })
})

/** The status of GET http://127.0.0.1:<port><path>, 0 when nothing answers. */
function probe(port: number, path: string): number {
  const r = spawnSync(
    process.execPath,
    ['-e', `fetch('http://127.0.0.1:${port}${path}').then(r => console.log(r.status), () => console.log(0))`],
    { encoding: 'utf8', timeout: 3000 },
  )
  return Number(r.stdout.trim() || 0)
}
