import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, definePlugin, StoaError } from '../../../actions/index.js'
import type { HealthServer } from '../../../plugins/health/index.js'
import health, { serveHealth } from '../../../plugins/health/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import type { HttpTransport } from '../../../transports/http/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

describe('health plugin and probes', function () {
  this.timeout(10000)
  let stoa: Stoa<any>
  let transport: HttpTransport
  let webServer: WebServer
  let probes: HealthServer
  const db = { up: true }

  before(async () => {
    // The database check of a plugin, the way the vote tally registers one.
    const tally = definePlugin({
      name: 'tally',
      init: (host) => {
        host.addCheck('tally-db', () => {
          if (!db.up) throw new Error('database unreachable')
        })
      },
    })
    transport = createHttpTransport()
    stoa = createStoa({ name: 'tally', logger: quietLogger() })
      .use(tally)
      .use(health, { web: true })
      .use(web, { routes: { 'GET /sum': 'role:math,cmd:sum' } })
      .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
      .listen(transport)
    await stoa.ready()
    webServer = await serveWeb(stoa)
    probes = await serveHealth(stoa)
  })

  after(async () => {
    await webServer.close()
    await probes.close()
    await stoa.close()
  })

  afterEach(() => {
    db.up = true
  })

  /** Every place a probe can ask: the probe server, the web listener, the HTTP transport. */
  const where = () => [
    ['probe server', probes.url],
    ['web listener', webServer.url],
    ['http transport', transport.address()!],
  ]

  it('answers 200 on /healthz and /readyz everywhere while ready', async () => {
    for (const [name, url] of where()) {
      const alive = await rawRequest(url!, 'GET', '/healthz')
      expect(alive.status, `${name} /healthz`).to.equal(200)
      const ready = await rawRequest(url!, 'GET', '/readyz')
      expect(ready.status, `${name} /readyz`).to.equal(200)
    }
    const direct = await rawRequest(probes.url, 'GET', '/readyz')
    expect(direct.json).to.deep.equal({
      ready: true,
      checks: [
        { name: 'lifecycle', ready: true },
        { name: 'tally-db', ready: true },
      ],
    })
  })

  it("answers 503 on /readyz everywhere while a plugin's check fails, and 200 on /healthz", async () => {
    db.up = false
    for (const [name, url] of where()) {
      const ready = await rawRequest(url!, 'GET', '/readyz')
      expect(ready.status, `${name} /readyz`).to.equal(503)
      expect(ready.text, name).to.include('database unreachable')
      expect((await rawRequest(url!, 'GET', '/healthz')).status, `${name} /healthz`).to.equal(200)
    }
  })

  it('answers another method on a probe path 405 METHOD_NOT_ALLOWED with Allow, everywhere', async () => {
    for (const [name, url] of where()) {
      const res = await rawRequest(url!, 'POST', '/readyz')
      expect(res.status, name).to.equal(405)
      expect(res.headers.allow, name).to.match(/^GET, HEAD/)
      // The web listener answers in the web body shape, the probe servers with the error itself.
      expect(res.json.error?.code ?? res.json.code, name).to.equal('METHOD_NOT_ALLOWED')
    }
  })

  it('answers role:health,cmd:ready as an action: the verdict, or UNAVAILABLE naming what fails', async () => {
    expect(await stoa.act('role:health,cmd:ready')).to.deep.include({ ready: true })
    expect(await stoa.act('role:health,cmd:alive')).to.deep.equal({ alive: true })
    db.up = false
    const err = (await stoa.act('role:health,cmd:ready').catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
    expect(err.message).to.include('tally-db: database unreachable')
    expect(err.details?.checks).to.deep.include({ name: 'tally-db', ready: false, reason: 'database unreachable' })
  })

  it('marks the health actions public, so an authorization hook lets a probe through without a token', () => {
    expect(stoa.find('role:health,cmd:ready')!.options.public).to.equal(true)
    expect(stoa.find('role:health,cmd:alive')!.options.public).to.equal(true)
  })

  it('keeps the web routes of the web plugin beside its own', async () => {
    expect((await rawRequest(webServer.url, 'GET', '/sum?left=1&right=2')).json).to.deep.equal({ answer: 3 })
  })
})
