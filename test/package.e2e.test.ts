import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import type { Installed } from '../bench/install/kit.js'
import { ALONE_PROBE, install, JS_SERVICE, runCommand, runIn } from '../bench/install/kit.js'
import { packedTarball } from './helpers/tarball.js'

interface Seen {
  inProcess: unknown
  overBus: unknown
  imports: Record<string, string>
  starts: Record<string, { code?: string; message?: string; details?: Record<string, unknown> }>
}

describe('package: an application that installs stoa alone', function () {
  this.timeout(180_000)
  let installed: Installed
  let seen: Seen

  before(() => {
    // The packed tarball, as published (dist/ is built by `npm run test:e2e`), into an empty
    // application folder with `npm install`, no optional peer.
    installed = install(packedTarball())
    seen = JSON.parse(runIn(installed.dir, ALONE_PROBE).trim().split('\n').pop()!) as Seen
  })

  after(() => {
    if (installed !== undefined) rmSync(installed.dir, { recursive: true, force: true })
  })

  it('gets stoa, the schema spec and zod, and nothing else', () => {
    const modules = join(installed.dir, 'node_modules')
    const top = readdirSync(modules).filter((n) => !n.startsWith('.'))
    const names = top.flatMap((n) => (n.startsWith('@') ? readdirSync(join(modules, n)).map((s) => `${n}/${s}`) : [n]))
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
