import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect } from 'chai'
import type { Installed } from '../bench/install/kit.js'
import { ALONE_PROBE, install, JS_SERVICE, root, runCommand, runIn } from '../bench/install/kit.js'
import { deleteTopology, uniquePrefix } from './fixtures/amqp-broker.js'
import type { Started } from './helpers/guide.js'
import { guideSteps, runGuide } from './helpers/guide.js'
import { freePort } from './helpers/ports.js'
import { packedTarball } from './helpers/tarball.js'
import { waitFor } from './helpers/wait.js'

interface Seen {
  inProcess: unknown
  overBus: unknown
  imports: Record<string, string>
  starts: Record<string, { code?: string; message?: string; details?: Record<string, unknown> }>
}

describe('package: the packed tarball', function () {
  this.timeout(180_000)
  // Packed once, as published (dist/ is built by `npm run test:e2e`), for every install below.
  let tarball: string
  before(() => {
    tarball = packedTarball()
  })

  describe('an application that installs stoa alone', () => {
    let installed: Installed
    let seen: Seen

    before(() => {
      // Into an empty application folder with `npm install`, no optional peer.
      installed = install(tarball)
      seen = JSON.parse(runIn(installed.dir, ALONE_PROBE).trim().split('\n').pop()!) as Seen
    })

    after(() => {
      if (installed !== undefined) rmSync(installed.dir, { recursive: true, force: true })
    })

    it('gets stoa, the schema spec and zod, and nothing else', () => {
      const modules = join(installed.dir, 'node_modules')
      const top = readdirSync(modules).filter((n) => !n.startsWith('.'))
      const names = top.flatMap((n) =>
        n.startsWith('@') ? readdirSync(join(modules, n)).map((s) => `${n}/${s}`) : [n],
      )
      expect(names.sort()).to.deep.equal(['@standard-schema/spec', 'stoa', 'zod'])
      expect(installed.packages).to.equal(3)
    })

    it('acts in process, and over the memory bus, importing stoa and stoa/memory', () => {
      expect(seen.inProcess).to.deep.equal({ answer: 3 })
      expect(seen.overBus).to.deep.equal({ answer: 5 })
    })

    it('refuses to start the AMQP transport with INVALID_PLUGIN naming amqplib and how to install it', () => {
      expect(seen.starts.amqp?.code).to.equal('INVALID_PLUGIN')
      expect(seen.starts.amqp?.message).to.contain('npm install amqplib')
      expect(seen.starts.amqp?.details).to.deep.equal({ package: 'amqplib', entry: 'stoa/amqp' })
    })

    it('refuses to start the HTTP and Lambda clients with INVALID_PLUGIN naming undici and the AWS SDK', () => {
      expect(seen.starts.http?.details).to.deep.equal({ package: 'undici', entry: 'stoa/http' })
      expect(seen.starts.lambda?.details).to.deep.equal({ package: '@aws-sdk/client-lambda', entry: 'stoa/lambda' })
      expect([seen.starts.http?.code, seen.starts.lambda?.code]).to.deep.equal(['INVALID_PLUGIN', 'INVALID_PLUGIN'])
    })

    it('imports every entry point without its optional peers', () => {
      const failing = Object.entries(seen.imports)
        .filter(([, outcome]) => outcome !== 'ok')
        .map(([entry, outcome]) => `${entry}: ${outcome}`)
      expect(failing).to.deep.equal([])
      expect(Object.keys(seen.imports)).to.include.members(['stoa', 'stoa/memory', 'stoa/amqp', 'stoa/http'])
    })

    it('runs the stoa command on a .js service module, and asks for tsx to load a .ts one', () => {
      writeFileSync(join(installed.dir, 'math.mjs'), JS_SERVICE)
      writeFileSync(join(installed.dir, 'math.ts'), JS_SERVICE)
      const js = runCommand(installed.dir, ['act', './math.mjs', 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(js.stderr).to.equal('')
      expect(js.stdout.trim()).to.equal('{"answer":3}')
      expect(js.status).to.equal(0)
      const ts = runCommand(installed.dir, ['act', './math.ts', 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(ts.stderr).to.match(/^INVALID_PLUGIN: .*npm install tsx/)
      expect(ts.status).to.equal(1)
    })
  })

  describe('docs/getting-started.md, followed from npm init', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'first_guide-')), 'shop')
    const prefix = uniquePrefix('guide')
    const started: Started[] = []

    after(async () => {
      for (const s of started) {
        if (s.child.exitCode !== null || s.child.signalCode !== null) continue
        const gone = new Promise((resolve) => s.child.once('exit', resolve))
        s.child.kill('SIGTERM')
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000)
        await gone
        clearTimeout(timer)
      }
      await deleteTopology(prefix, ['orders', 'mailer', 'gateway']).catch(() => undefined)
      rmSync(dirname(dir), { recursive: true, force: true })
    })

    it('builds the three services, answers curl and stoa act as shown, and passes its test and tsc', async () => {
      mkdirSync(dir)
      const port = await freePort()
      const steps = guideSteps(readFileSync(join(root, 'docs/getting-started.md'), 'utf8'))
      // The guide's main is a file to read, not a step to run: it would listen until stopped.
      expect(steps.filter((s) => s.kind === 'file').map((s) => s.path)).to.deep.equal([
        'tsconfig.json',
        'services/orders.ts',
        'services/mailer.ts',
        'services/gateway.ts',
        'test/orders.test.ts',
        'main.ts',
      ])
      const { STOA_TOKEN: _token, NODE_OPTIONS: _options, ...env } = process.env
      await runGuide(steps, {
        dir,
        env,
        started,
        // The tarball for the published package, this run's own queue names and a free port.
        rewrite: (line) =>
          line
            .replace(
              /^npm install (.*)$/,
              (_all, names: string) =>
                `npm install --no-audit --no-fund --prefer-offline ${names.replace(/(^|\s)stoa(\s|$)/, `$1${tarball}$2`)}`,
            )
            .replace(
              /amqp:\/\/127\.0\.0\.1(\?)?/g,
              (_all, q?: string) => `amqp://127.0.0.1?prefix=${prefix}${q === undefined ? '' : '&'}`,
            )
            .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`),
      })
      const mailer = started.find((s) => s.line.includes('services/mailer.ts'))!
      await waitFor(
        () => (mailer.stderr.match(/mail sent/g) ?? []).length === 2,
        'the mailer to hear both orders',
        15_000,
      )
      const gateway = started.find((s) => s.line.includes('services/gateway.ts'))!
      // The gateway's route is answered by orders, declared in its clients: nothing to warn about.
      expect(gateway.stderr).not.to.match(/"level":(40|"warn")/)
    })
  })
})
