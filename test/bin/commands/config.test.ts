import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { run } from '../run.js'

const SERVICE = 'test/fixtures/config/service.ts'
const TOKEN = 'a-token-nobody-should-see'

describe('stoa config', function () {
  this.timeout(30_000)
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ops_stoa-config-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('prints what the service would resolve: the secret redacted, a URL password hidden, where each came from', async () => {
    const r = await run(['config', SERVICE], { env: { CONF_TOKEN: TOKEN, CONF_URL: 'postgres://u:pw@db/app' } })
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.deep.equal({
      service: 'conf',
      config: { CONF_TOKEN: '[redacted]', CONF_PORT: 8080, CONF_URL: 'postgres://u:***@db/app' },
      origin: { CONF_TOKEN: 'env', CONF_PORT: 'default', CONF_URL: 'env' },
    })
    expect(r.stdout).not.to.include(TOKEN)
  })

  it('reads --env-file under the environment, and NAME_FILE secrets', async () => {
    const secretFile = join(dir, 'token')
    writeFileSync(secretFile, `${TOKEN}\n`)
    const envFile = join(dir, 'conf.env')
    writeFileSync(envFile, `CONF_PORT=9000\nCONF_URL=postgres://db/from-file\nCONF_TOKEN_FILE=${secretFile}\n`)
    const r = await run(['config', SERVICE, '--env-file', envFile], { env: { CONF_URL: 'postgres://db/from-env' } })
    expect(r.code, r.stderr).to.equal(0)
    const out = JSON.parse(r.stdout)
    expect(out.config).to.deep.equal({ CONF_TOKEN: '[redacted]', CONF_PORT: 9000, CONF_URL: 'postgres://db/from-env' })
    expect(out.origin.CONF_TOKEN).to.equal('file')
  })

  it('exits 1 with INVALID_CONFIG naming each bad variable and its rule', async () => {
    const r = await run(['config', SERVICE], { env: { CONF_PORT: '0', CONF_URL: 'mysql://db' } })
    expect(r.code).to.equal(1)
    expect(r.stdout).to.equal('')
    expect(r.stderr).to.match(/^INVALID_CONFIG: service "conf": CONF_TOKEN is not set \(nor CONF_TOKEN_FILE\)/)
    expect(r.stderr).to.include('CONF_PORT: ')
    expect(r.stderr).to.include('CONF_URL: must be a postgres:// URL')
  })

  it('an --env-file that cannot be read is INVALID_CONFIG naming it', async () => {
    const r = await run(['config', SERVICE, '--env-file', join(dir, 'absent.env')], { env: {} })
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^INVALID_CONFIG: --env-file: cannot read ".*absent\.env" \(ENOENT\)/)
  })

  it('a module that is not a service is a usage error', async () => {
    const r = await run(['config', 'test/fixtures/cli-math/plugin.ts'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/exports no service/)
  })

  it('stoa serve with a bad setting exits 1 before it listens or logs a value', async () => {
    let err = ''
    const r = await run(['serve', SERVICE, '--http', '127.0.0.1:0'], {
      env: { CONF_TOKEN: 'short', CONF_URL: 'postgres://db/app' },
      onStderr: (s) => {
        err += s
      },
    })
    expect(r.code).to.equal(1)
    expect(r.stdout).not.to.match(/listening on/)
    expect(err).to.match(/INVALID_CONFIG: service "conf": CONF_TOKEN: must be at least 16 characters/)
    expect(err).not.to.include('"short"')
  })

  it('stoa serve logs the resolved configuration at start, the secret redacted', async () => {
    const stop = new AbortController()
    let err = ''
    const r = await run(['serve', SERVICE, '--http', '127.0.0.1:0'], {
      env: { CONF_TOKEN: TOKEN, CONF_URL: 'postgres://db/app' },
      stop: stop.signal,
      onStdout: (s) => {
        if (/listening on/.test(s)) stop.abort('SIGINT')
      },
      onStderr: (s) => {
        err += s
      },
    })
    expect(r.code, err).to.equal(0)
    const line = err.split('\n').find((l) => l.includes('configuration'))
    expect(line, err).to.include('"CONF_TOKEN":"[redacted]"')
    expect(err).not.to.include(TOKEN)
  })
})
