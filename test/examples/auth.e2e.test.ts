import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'chai'

const root = fileURLToPath(new URL('../..', import.meta.url))
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ['dist/bin/stoa.js', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

describe('examples/auth from the command line: a token from login, verified on the next call', function () {
  this.timeout(30_000)
  const service = 'dist/examples/auth/service.js'

  it('logs in, then acts with --token and with STOA_TOKEN; refuses without or with a bad one', async () => {
    const login = await run([
      'act',
      service,
      'role:auth,cmd:login',
      'username=ada',
      'password=correct horse battery staple',
    ])
    expect(login.code, login.stderr).to.equal(0)
    const { token } = JSON.parse(login.stdout) as { token: string }
    const flag = await run(['act', service, 'role:auth,cmd:whoami', '--token', token])
    expect(JSON.parse(flag.stdout)).to.deep.equal({ sub: 'ada', roles: ['user-mover'] })
    const env = await run(['act', service, 'role:auth,cmd:whoami'], { STOA_TOKEN: token })
    expect(JSON.parse(env.stdout)).to.deep.equal({ sub: 'ada', roles: ['user-mover'] })
    const none = await run(['act', service, 'role:auth,cmd:whoami'])
    expect(none.code).to.equal(1)
    expect(none.stderr).to.match(/^UNAUTHENTICATED: this action needs a token/)
    const bad = await run(['act', service, 'role:auth,cmd:whoami', '--token', `${token}x`])
    expect(bad.code).to.equal(1)
    expect(bad.stderr).to.match(/^UNAUTHENTICATED: the token's signature is not valid/)
  })
})
