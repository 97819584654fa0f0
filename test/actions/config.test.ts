import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { expect } from 'chai'
import { z } from 'zod'
import {
  createLogger,
  definePlugin,
  defineService,
  REDACTED,
  resolveConfig,
  StoaError,
  secret,
} from '../../actions/index.js'

const schema = {
  API_TOKEN: secret(z.string().min(16, 'must be at least 16 characters')),
  PORT: z.coerce.number().int('must be a whole number').default(3000),
  DATABASE_URL: z.string().regex(/^postgres:\/\//, 'must be a postgres:// URL'),
}
const good = { API_TOKEN: 'a-token-of-twenty-chars', DATABASE_URL: 'postgres://app:hunter2@db:5432/app' }

/** The INVALID_CONFIG `resolveConfig` throws for `env`. */
function refusal(env: Record<string, string | undefined>): StoaError {
  try {
    resolveConfig('api', schema, env)
  } catch (err) {
    expect(err).to.be.instanceOf(StoaError)
    expect((err as StoaError).code).to.equal('INVALID_CONFIG')
    return err as StoaError
  }
  throw new Error('resolved a bad configuration')
}

describe('actions/config', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ops_config-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('resolves from the environment, with defaults, the secret redacted and a URL password hidden', () => {
    const r = resolveConfig('api', schema, { ...good, UNRELATED: 'x' })
    expect(r.values).to.deep.equal({ API_TOKEN: good.API_TOKEN, PORT: 3000, DATABASE_URL: good.DATABASE_URL })
    expect(r.shown).to.deep.equal({ API_TOKEN: REDACTED, PORT: 3000, DATABASE_URL: 'postgres://app:***@db:5432/app' })
    expect(r.origin).to.deep.equal({ API_TOKEN: 'env', PORT: 'default', DATABASE_URL: 'env' })
  })

  it('reads NAME_FILE (a mounted secret), dropping one trailing newline', () => {
    const file = join(dir, 'token')
    writeFileSync(file, 'a-token-from-a-secret-file\n')
    const r = resolveConfig('api', schema, { DATABASE_URL: good.DATABASE_URL, API_TOKEN_FILE: file, PORT: '' })
    expect(r.values.API_TOKEN).to.equal('a-token-from-a-secret-file')
    expect(r.origin.API_TOKEN).to.equal('file')
    expect(r.shown.API_TOKEN).to.equal(REDACTED)
  })

  it('a missing setting: names the variable, its _FILE twin and the rule', () => {
    const err = refusal({ DATABASE_URL: good.DATABASE_URL })
    expect(err.message).to.match(/^service "api": API_TOKEN is not set \(nor API_TOKEN_FILE\): /)
    expect(err.details).to.deep.equal({ variables: ['API_TOKEN'] })
  })

  it('an invalid setting: names the variable and the rule, never the value', () => {
    const err = refusal({ ...good, API_TOKEN: 'short-secret', PORT: '80.5' })
    expect(err.message).to.include('API_TOKEN: must be at least 16 characters')
    expect(err.message).to.include('PORT: must be a whole number')
    expect(err.message).not.to.include('short-secret')
    expect(err.message).not.to.include('80.5')
    expect(err.details).to.deep.equal({ variables: ['API_TOKEN', 'PORT'] })
  })

  it('an invalid value read from NAME_FILE says it came from the file', () => {
    const file = join(dir, 'short')
    writeFileSync(file, 'short')
    expect(refusal({ ...good, API_TOKEN: undefined, API_TOKEN_FILE: file }).message).to.include(
      'API_TOKEN (from API_TOKEN_FILE): must be at least 16 characters',
    )
  })

  it('a NAME_FILE that cannot be read: names the variable, the path and why', () => {
    const path = join(dir, 'absent')
    const err = refusal({ DATABASE_URL: good.DATABASE_URL, API_TOKEN_FILE: path })
    expect(err.message).to.include(`API_TOKEN_FILE: cannot read "${path}" (ENOENT)`)
  })

  it('both NAME and NAME_FILE: refused rather than one silently winning', () => {
    const file = join(dir, 'token2')
    writeFileSync(file, 'a-token-from-a-secret-file')
    expect(refusal({ ...good, API_TOKEN_FILE: file }).message).to.include(
      'API_TOKEN and API_TOKEN_FILE are both set: give one of them',
    )
  })

  it('an asynchronous schema is a definition error (INVALID_OPTIONS), not a configuration one', () => {
    const slow: StandardSchemaV1<unknown, string> = {
      '~standard': { version: 1, vendor: 'test', validate: async (v) => ({ value: String(v) }) },
    }
    expect(() => resolveConfig('api', { SLOW: slow }, { SLOW: 'x' }))
      .to.throw(StoaError, /schema of setting SLOW is asynchronous/)
      .with.property('code', 'INVALID_OPTIONS')
  })
})

describe('actions/service: config', () => {
  const seen: unknown[] = []
  const probe = definePlugin({
    name: 'probe',
    options: z.object({ token: z.string(), port: z.number() }),
    init(_stoa, options) {
      seen.push(options)
    },
  })
  const service = defineService({
    name: 'api',
    config: { API_TOKEN: schema.API_TOKEN, PORT: schema.PORT },
    plugins: (config) => [[probe, { token: config.API_TOKEN, port: config.PORT }]],
  })

  it('gives the plugins the resolved values and logs them once at start, the secret redacted', async () => {
    const lines: string[] = []
    const stoa = service.create({
      env: { API_TOKEN: good.API_TOKEN, PORT: '4000' },
      logger: createLogger('info', (l) => void lines.push(l)),
    })
    await stoa.ready()
    expect(seen.at(-1)).to.deep.equal({ token: good.API_TOKEN, port: 4000 })
    const logged = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'service "api" configuration')
    expect(logged.config).to.deep.equal({ API_TOKEN: REDACTED, PORT: 4000 })
    expect(lines.join('')).not.to.include(good.API_TOKEN)
    await stoa.close()
  })

  it('a bad setting stops create before any plugin is loaded', () => {
    const before = seen.length
    expect(() => service.create({ env: { PORT: 'eighty' } }))
      .to.throw(StoaError, /API_TOKEN is not set.*PORT: /)
      .with.property('code', 'INVALID_CONFIG')
    expect(seen.length).to.equal(before)
  })

  it('refuses a malformed config at definition', () => {
    const bad = [
      [{ apiToken: z.string() }, /config\.apiToken": a variable name is SCREAMING_SNAKE_CASE/],
      [{ API_TOKEN: 'text' }, /config\.API_TOKEN": not a Standard Schema/],
    ] as const
    for (const [config, why] of bad)
      expect(() => defineService({ name: 'api', config: config as never, plugins: () => [] })).to.throw(StoaError, why)
    expect(() => defineService({ name: 'api', config: {}, plugins: [] as never })).to.throw(
      StoaError,
      /a function of the settings/,
    )
  })
})
