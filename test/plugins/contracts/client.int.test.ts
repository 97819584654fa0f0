import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { Parser } from '@asyncapi/parser'
import { Validator } from '@seriousme/openapi-schema-validator'
import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createStoa } from 'stoa'
import { signToken } from 'stoa/jwt'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { authService } from '../../../examples/vote/services/auth.js'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import type { GatewayServer } from '../../../examples/vote/web/server.js'
import { serveGateway } from '../../../examples/vote/web/server.js'
import { DOCS_CSP, describeContract, toClientModule } from '../../../plugins/contracts/index.js'
import { quietLogger } from '../../helpers/wait.js'

const SECRET = 'ct-client-test-secret-of-forty-characters'
const root = new URL('../../../', import.meta.url).pathname

async function contractOf(stoa: Stoa<any>) {
  await stoa.ready()
  try {
    return await describeContract(stoa)
  } finally {
    await stoa.close()
  }
}

describe('plugins/contracts: the generated client against the vote gateway over HTTP', function () {
  this.timeout(60_000)
  let dir: string
  let gateway: Stoa<any>
  let auth: Stoa<any>
  let tally: Stoa<any>
  let server: GatewayServer
  let source: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ct-client-'))
    const contracts = await Promise.all([
      contractOf(gatewayService(SECRET).create({ logger: quietLogger() })),
      contractOf(authService(SECRET).create({ logger: quietLogger() })),
    ])
    source = toClientModule(contracts)
    await writeFile(join(dir, 'client.ts'), source)
    await writeFile(join(dir, 'client.js'), toClientModule(contracts, { js: true }))
    const bus = createMemoryBus()
    tally = createStoa({ name: 'tally', logger: quietLogger() }).add('task:tally.vote.record', () => undefined)
    tally.listen(createMemoryTransport({ bus }))
    auth = authService(SECRET).create({ logger: quietLogger() })
    auth.listen(createMemoryTransport({ bus })).client(createMemoryTransport({ bus }))
    gateway = gatewayService(SECRET).create({ logger: quietLogger() })
    gateway.client(createMemoryTransport({ bus }), ['role:auth'])
    await Promise.all([tally.ready(), auth.ready(), gateway.ready()])
    server = await serveGateway(gateway)
  })
  after(async () => {
    await server?.close()
    for (const s of [gateway, auth, tally]) await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('compiles under strict TypeScript with no dependency, and a wrong message does not', async () => {
    const use = `import { createClient } from './client.js'
const c = createClient({ baseUrl: 'http://x' })
export const ok = c.call('vote.cast', { choice: 'cats' }).then((r) => r.voteId.length + r.acceptedAt)
// @ts-expect-error birds are not on the ballot
export const bad = c.call('vote.cast', { choice: 'birds' })
// @ts-expect-error no such route
export const none = c.call('vote.nothing', {})
`
    await writeFile(join(dir, 'use.ts'), use)
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--lib', 'es2022,dom']
    await promisify(execFile)(process.execPath, [tsc, ...args, join(dir, 'use.ts')]).catch((err) => {
      throw new Error(`${err.stdout}${err.stderr}`)
    })
    expect(source).not.to.match(/^import /m)
  })

  it('logs in and votes through the typed routes, and rejects with the code of the error table', async () => {
    const { createClient, StoaClientError } = await import(pathToFileURL(join(dir, 'client.js')).href)
    const anonymous = createClient({ baseUrl: server.url })
    const login = await anonymous.call('auth.login', { name: 'Ada' })
    expect(login.sub).to.equal('ada')
    const voter = createClient({ baseUrl: server.url, token: () => login.token })
    const vote = await voter.call('vote.cast', { choice: 'dogs' })
    expect(vote).to.have.keys('voteId', 'acceptedAt')
    const refused = await voter.call('vote.cast', { choice: 'birds' }).catch((e: unknown) => e)
    expect(refused).to.be.instanceOf(StoaClientError)
    expect([refused.code, refused.status]).to.deep.equal(['INVALID_MESSAGE', 400])
    const nobody = await anonymous.call('vote.cast', { choice: 'cats' }).catch((e: unknown) => e)
    expect([nobody.code, nobody.status]).to.deep.equal(['UNAUTHENTICATED', 401])
    const token = signToken({ sub: 'bob', roles: [] }, { secret: SECRET, expiresInSec: 60 })
    const forbidden = await createClient({ baseUrl: server.url, token })
      .call('vote.cast', { choice: 'cats' })
      .catch((e: unknown) => e)
    expect(forbidden.code).to.equal('FORBIDDEN')
  })

  it('serves the documents on the web routes and the reference page under a strict CSP', async () => {
    // Every answer is read before the slow validators run: an idle kept-alive connection may
    // be closed by the server meanwhile.
    const get = async (path: string) => {
      const res = await fetch(`${server.url}${path}`)
      return { res, text: await res.text() }
    }
    const openapi = await get('/api/openapi.json')
    const asyncapi = await get('/api/asyncapi.json')
    const page = await get('/docs')
    const script = await get('/docs/reference.js')
    expect([openapi.res.status, asyncapi.res.status, page.res.status, script.res.status]).to.deep.equal([
      200, 200, 200, 200,
    ])
    const doc = JSON.parse(openapi.text)
    expect((await new Validator().validate(doc)).valid).to.equal(true)
    expect(doc.paths['/api/votes'].post.operationId).to.equal('vote.cast')
    const { diagnostics } = await new Parser().parse(asyncapi.text)
    expect(diagnostics.filter((d) => d.severity === 0)).to.deep.equal([])
    expect(page.res.headers.get('content-security-policy')).to.equal(DOCS_CSP)
    expect(page.text).to.include('src="/docs/reference.js"').and.include('data-openapi="/api/openapi.json"')
    expect(page.text).not.to.match(/<script>|style=|https?:\/\//)
    expect(script.res.headers.get('content-type')).to.match(/^text\/javascript/)
  })

  it('is what the vote pages load: examples/vote/web/pages/api.js is generated and up to date', async () => {
    const contracts = await Promise.all([
      contractOf(gatewayService(SECRET).create({ logger: quietLogger() })),
      contractOf(authService(SECRET).create({ logger: quietLogger() })),
    ])
    const committed = await readFile(join(root, 'examples/vote/web/pages/api.js'), 'utf8')
    expect(committed, 'run: npm run vote:client').to.equal(toClientModule(contracts, { js: true }))
  })
})
