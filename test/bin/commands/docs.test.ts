import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Parser } from '@asyncapi/parser'
import { Validator } from '@seriousme/openapi-schema-validator'
import { expect } from 'chai'
import { parse } from 'yaml'
import { run } from '../run.js'

const gateway = 'examples/vote/services/gateway.ts'
const env: Record<string, string> = { JWT_SECRET: 'ct-cli-secret-that-is-long-enough-for-hs256' }

describe('bin/commands/docs', () => {
  it('prints a valid OpenAPI 3.1 document of a service as JSON', async () => {
    // The vote services declare JWT_SECRET: it comes from the command's environment.
    const r = await run(['docs', gateway, 'examples/vote/services/auth.ts', '--format', 'openapi'], { env })
    expect(r.code, r.stderr).to.equal(0)
    const doc = JSON.parse(r.stdout)
    expect((await new Validator().validate(doc)).valid).to.equal(true)
    expect(Object.keys(doc.paths)).to.deep.equal([
      '/api/login',
      '/api/votes',
      '/api/results',
      '/api/results/stream',
      '/api/graphql',
      '/api/openapi.json',
      '/api/asyncapi.json',
    ])
    // The stream route is a server-sent event stream of its event, not an action's answer.
    const stream = doc.paths['/api/results/stream'].get
    expect(stream['x-stoa-stream']).to.equal('vote.recorded')
    expect(Object.keys(stream.responses['200'].content)).to.deep.equal(['text/event-stream'])
  })

  it('prints a valid AsyncAPI 3 document as YAML with --yaml', async () => {
    const r = await run(['docs', 'examples/math/service.ts', '--format', 'asyncapi', '--yaml', '--prefix', 'ct'])
    expect(r.code, r.stderr).to.equal(0)
    const doc = parse(r.stdout)
    expect(doc.asyncapi).to.equal('3.0.0')
    expect(doc.channels['rpc.math'].address).to.equal('ct.rpc.math')
    const { diagnostics } = await new Parser().parse(r.stdout)
    expect(diagnostics.filter((d) => d.severity === 0)).to.deep.equal([])
  })

  it('refuses a missing or unknown --format with usage', async () => {
    expect((await run(['docs', 'examples/math/service.ts'])).code).to.equal(2)
    expect((await run(['docs', 'examples/math/service.ts', '--format', 'wsdl'])).code).to.equal(2)
  })
})

describe('bin/commands/contract', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ct-contract-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('saves the contract, then passes the same code and fails a saved contract the code broke', async () => {
    const file = join(dir, 'contract.json')
    const saved = await run(['contract', 'examples/math/service.ts', '--save', file])
    expect(saved.code, saved.stderr).to.equal(0)
    expect(JSON.parse(await readFile(file, 'utf8')).contracts[0].service).to.equal('math')
    const same = await run(['contract', 'examples/math/service.ts', '--check', file])
    expect(same.code, same.stderr).to.equal(0)
    // A saved contract with an action the code no longer has: as if the code removed it.
    const json = JSON.parse(await readFile(file, 'utf8'))
    json.contracts[0].actions.push({ ...json.contracts[0].actions[0], pattern: 'cmd:divide,role:math' })
    await writeFile(file, JSON.stringify(json))
    const broken = await run(['contract', 'examples/math/service.ts', '--check', file])
    expect(broken.code).to.equal(1)
    expect(broken.stderr).to.include('BREAKING: math: action "cmd:divide,role:math" was removed')
  })
})
