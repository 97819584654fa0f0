import { spawn } from 'node:child_process'
import { expect } from 'chai'
import { fromEnvironment } from '../../../examples/vote/config.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'

const root = new URL('../../../', import.meta.url).pathname

/**
 * Runs a command without `JWT_SECRET` and resolves with its exit code and output, bounded; a
 * process that starts listening is killed at once.
 */
function runWithoutSecret(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  const { JWT_SECRET: _, ...rest } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...rest, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const seen = (d: Buffer) => {
    out += d.toString()
    // It started after all: no need to wait for the bound.
    if (/listening on/.test(out)) child.kill('SIGKILL')
  }
  child.stdout.on('data', seen)
  child.stderr.on('data', seen)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${args.join(' ')} still runs after 60 s without JWT_SECRET:\n${out}`))
    }, 60_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

describe('examples/vote: the distributed services refuse to start without JWT_SECRET', function () {
  this.timeout(150_000)
  const prefix = uniquePrefix('voteops-secret')
  const env = { AMQP_URL, VOTE_PREFIX: prefix }
  after(() => deleteTopology(prefix, ['auth', 'vote']).catch(() => undefined))

  for (const service of ['auth', 'gateway']) {
    it(`stoa serve examples/vote/services/${service}.ts exits 1 naming JWT_SECRET`, async () => {
      const { code, out } = await runWithoutSecret(
        ['bin/stoa.ts', 'serve', `examples/vote/services/${service}.ts`, '--amqp', `${AMQP_URL}?prefix=${prefix}`],
        env,
      )
      expect(out).to.match(/JWT_SECRET/)
      expect(out).not.to.match(/listening on/)
      expect(code).to.equal(1)
    })
  }

  it('only the embedded demo generates a secret when none is set', () => {
    expect(() => fromEnvironment({}).jwtSecret).to.throw(/JWT_SECRET/)
    const embedded = fromEnvironment({}, { generateSecret: true })
    expect(embedded.generated).to.equal(true)
    expect(embedded.jwtSecret).to.have.length.at.least(32)
    expect(fromEnvironment({ JWT_SECRET: 'given' }, { generateSecret: true })).to.include({
      jwtSecret: 'given',
      generated: false,
    })
  })
})
