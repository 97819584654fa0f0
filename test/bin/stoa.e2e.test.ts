import { accessSync, constants, readFileSync } from 'node:fs'
import { expect } from 'chai'
import { lambdaHandler } from '../../transports/lambda/index.js'
import lambdaService from '../fixtures/lambda/service.js'
import { inProcessContainer, startLambdaEndpoint } from '../helpers/lambda-endpoint.js'
import { quietLogger } from '../helpers/wait.js'
import { STOA, stoa } from './spawn.js'

const SERVICE = 'test/fixtures/cli-math/service.ts'

describe('stoa (the built CLI, spawned)', function () {
  this.timeout(30_000)

  it('starts with a shebang, so it runs as a command once executable', () => {
    expect(readFileSync(STOA, 'utf8').split('\n')[0]).to.equal('#!/usr/bin/env node')
  })

  it('is executable after the build', () => {
    expect(() => accessSync(STOA, constants.X_OK)).not.to.throw()
  })

  it('prints the version in its package.json for --version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    expect(await stoa(['--version'])).to.deep.include({ code: 0, stdout: `${version}\n`, stderr: '' })
  })

  describe('act', () => {
    for (const file of ['seneca.mjs', 'seneca.cjs', 'seneca.js']) {
      it(`runs a plain Seneca-style plugin from ${file} and prints compact JSON in a pipe`, async () => {
        const r = await stoa(['act', `test/fixtures/cli-math/${file}`, 'role:calc,cmd:sum', 'left=1', 'right=2'])
        expect(r).to.deep.include({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
      })
    }

    it('runs a TypeScript service without a build step', async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(r).to.deep.include({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
    })

    it('reads the message from stdin', async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:sum', '-'], { stdin: '{"left":40,"right":2}' })
      expect(r).to.deep.include({ code: 0, stdout: '{"answer":42}\n' })
    })

    it('takes the token from STOA_TOKEN', async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:echo'], { env: { STOA_TOKEN: 'from-env' } })
      expect(JSON.parse(r.stdout)).to.deep.include({ token: 'from-env', caller: 'cli' })
    })

    it('exits 1 with "CODE: message" and no stack for an unknown pattern', async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:nope'])
      expect(r).to.deep.include({ code: 1, stdout: '', stderr: 'NOT_FOUND: no action matches "cmd:nope,role:math"\n' })
    })

    it("exits 1 without leaking a thrown error's message; --verbose shows the stack", async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:fail'])
      expect(r).to.deep.include({
        code: 1,
        stderr: 'ACTION_FAILED: action "cmd:fail,role:math" failed\n  (run again with --verbose to see the cause)\n',
      })
      const v = await stoa(['act', SERVICE, 'role:math,cmd:fail', '--verbose'])
      expect(v.code).to.equal(1)
      expect(v.stderr).to.contain('secret database password')
      expect(v.stderr).to.match(/\n\s+at /)
    })

    it('exits 2 with the usage for a bad key=value', async () => {
      const r = await stoa(['act', SERVICE, 'role:math,cmd:sum', 'left'])
      expect(r.code).to.equal(2)
      expect(r.stdout).to.equal('')
      expect(r.stderr).to.match(/^stoa act: expected key=value, got "left"\nUsage:\n/)
    })

    it('exits 1 with UNAVAILABLE for a URL where nothing listens', async () => {
      const r = await stoa(['act', '--url', 'http://127.0.0.1:9', 'role:math,cmd:sum'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^UNAVAILABLE: [^\n]*127\.0\.0\.1:9[^\n]*\n$/)
    })

    it('acts through a lambda: URL, region, endpoint and credentials from the AWS environment', async () => {
      const endpoint = await startLambdaEndpoint()
      const handler = lambdaHandler(lambdaService.create({ logger: quietLogger() }))
      try {
        endpoint.addFunction('tally', [inProcessContainer(handler)])
        const env = {
          AWS_REGION: 'us-east-1',
          AWS_ENDPOINT_URL_LAMBDA: endpoint.url,
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        }
        const r = await stoa(['act', '--url', 'lambda:tally', 'role:tally,cmd:sum', 'left=1', 'right=2'], { env })
        expect(r).to.deep.include({ code: 0, stdout: '{"answer":3}\n' })
        const missing = await stoa(['act', '--url', 'lambda:tally', 'role:tally,cmd:sum'], {
          env: { ...env, AWS_REGION: '', AWS_DEFAULT_REGION: '', AWS_CONFIG_FILE: '/nonexistent' },
        })
        expect(missing.code).to.equal(1)
        expect(missing.stderr).to.match(/^INVALID_OPTIONS: lambda transport: no AWS region/m)
      } finally {
        await endpoint.close()
        await handler.stoa.close()
      }
    })
  })

  describe('list, routes, help', () => {
    it("lists a service's actions as JSON", async () => {
      const r = await stoa(['list', SERVICE, '--json'])
      expect(r.code).to.equal(0)
      const sum = (JSON.parse(r.stdout) as { pattern: string }[]).find((e) => e.pattern === 'cmd:sum,role:math')
      expect(sum).to.deep.include({
        permission: 'math:use',
        schema: { keys: ['left', 'right', 'round'], required: ['left', 'right'] },
      })
    })

    it('lists the routes of a web plugin', async () => {
      const r = await stoa(['routes', 'test/fixtures/cli-web/service.ts'])
      expect(r.code).to.equal(0)
      expect(r.stdout).to.match(/^POST\s+\/sum\s+cmd:sum,role:math\s+200$/m)
    })

    it('prints help with --help and exits 0; exits 2 for an unknown command', async () => {
      const help = await stoa(['--help'])
      expect(help.code).to.equal(0)
      expect(help.stdout).to.contain('Commands:')
      const bad = await stoa(['nope'])
      expect(bad.code).to.equal(2)
      expect(bad.stderr).to.contain('unknown command "nope"')
    })
  })
})
