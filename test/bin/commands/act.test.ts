import { expect } from 'chai'
import { run } from '../run.js'

const SERVICE = 'test/fixtures/cli-math/service.ts'

describe('bin/commands/act (in process)', () => {
  describe('loading services', () => {
    it('runs an action of a defineService service written in TypeScript', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(r).to.deep.equal({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
    })

    it('runs an action of a module exporting one definePlugin plugin', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/plugin.ts', 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(r.code).to.equal(0)
      expect(JSON.parse(r.stdout)).to.deep.equal({ answer: 3 })
    })

    it('loads a list of plugins with their options', async () => {
      const sum = await run(['act', 'test/fixtures/cli-math/plugin-list.ts', 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(JSON.parse(sum.stdout)).to.deep.equal({ answer: 103 })
      const ping = await run(['act', 'test/fixtures/cli-math/plugin-list.ts', 'role:extra,cmd:ping'])
      expect(JSON.parse(ping.stdout)).to.deep.equal({ pong: true })
    })

    for (const file of ['seneca.cjs', 'seneca.mjs', 'seneca.js']) {
      it(`runs a plain Seneca-style plugin function from a ${file.slice(file.indexOf('.'))} module`, async () => {
        const r = await run(['act', `test/fixtures/cli-math/${file}`, 'role:calc,cmd:sum', 'left=20', 'right=22'])
        expect(r).to.deep.equal({ code: 0, stdout: '{"answer":42}\n', stderr: '' })
      })
    }

    it('fails with exit 2 when the module does not exist', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/nope.ts', 'role:math,cmd:sum'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/^stoa act: no service module at test\/fixtures\/cli-math\/nope\.ts\n/)
    })

    it('fails with exit 2 for a file that is not a module stoa loads', async () => {
      const r = await run(['act', 'package.json', 'role:math,cmd:sum'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/must be a \.js, \.mjs, \.cjs or \.ts file/)
    })

    it('reports a module that throws while loading as INVALID_PLUGIN, without its stack', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/broken.ts', 'role:math,cmd:sum'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.equal(
        'INVALID_PLUGIN: service module test/fixtures/cli-math/broken.ts failed to load: this module cannot load\n' +
          '  (run again with --verbose to see the cause)\n',
      )
    })

    it('reports a default export that is not a service as INVALID_PLUGIN', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/not-a-service.mjs', 'role:math,cmd:sum'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^INVALID_PLUGIN: not-a-service\.mjs must export a service \(defineService\), a plugin/)
      const none = await run(['act', 'test/fixtures/cli-math/no-default.mjs', 'role:math,cmd:sum'])
      expect(none.code).to.equal(1)
      expect(none.stderr).to.match(/^INVALID_PLUGIN: no-default\.mjs has no default export/)
    })
  })

  describe('the message', () => {
    it('parses key=value pairs into typed and nested values', async () => {
      const r = await run([
        'act',
        SERVICE,
        'role:math,cmd:echo',
        'n=1',
        'b=true',
        's=text',
        'a.b.c=x',
        'list=[1,2]',
        'zip=01234',
      ])
      expect(r.code).to.equal(0)
      expect(JSON.parse(r.stdout).msg).to.deep.equal({
        role: 'math',
        cmd: 'echo',
        n: 1,
        b: true,
        s: 'text',
        a: { b: { c: 'x' } },
        list: [1, 2],
        zip: '01234',
      })
    })

    it('starts from --json and sets pairs over it', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', '--json', '{"left":1,"right":1}', 'right=41'])
      expect(JSON.parse(r.stdout)).to.deep.equal({ answer: 42 })
    })

    it('reads the message from stdin for "-"', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', '-'], { stdin: '{"left":40,"right":2}' })
      expect(r).to.deep.equal({ code: 0, stdout: '{"answer":42}\n', stderr: '' })
    })

    it('fails with INVALID_JSON, exit 1, when stdin is not a JSON object', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', '-'], { stdin: 'left=1' })
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^INVALID_JSON: the message on stdin is not valid JSON/)
    })

    it("keeps the pattern's pairs over the message's, so data cannot redirect the call", async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:echo', 'cmd=fail'])
      expect(r.code).to.equal(0)
      expect(JSON.parse(r.stdout).msg.cmd).to.equal('echo')
    })

    for (const [argv, why] of [
      [['left'], /expected key=value, got "left"/],
      [['a=1', 'a=2'], /"a" is given twice/],
      [['x={nope'], /"x" looks like JSON but is not valid JSON/],
      [['--json', '[1]'], /must be a JSON object/],
      [['--json', '{}', '-'], /not both/],
      [['--timeout', 'soon'], /--timeout takes a whole number/],
    ] as const) {
      it(`exits 2 with the usage for ${argv.join(' ')}`, async () => {
        const r = await run(['act', SERVICE, 'role:math,cmd:sum', ...argv])
        expect(r.code).to.equal(2)
        expect(r.stdout).to.equal('')
        expect(r.stderr).to.match(why)
        expect(r.stderr).to.contain('Usage:\n  stoa act')
      })
    }

    it('exits 2 for a malformed pattern', async () => {
      const r = await run(['act', SERVICE, 'role:math,,cmd'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/^stoa act: invalid pattern "role:math,,cmd"/)
    })

    it('exits 2 without a pattern or a service', async () => {
      expect((await run(['act', SERVICE])).stderr).to.match(/missing <pattern>/)
      expect((await run(['act'])).stderr).to.match(/missing <service>/)
    })
  })

  describe('identity and options', () => {
    it('acts with --token as the identity token and "cli" as the caller', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:echo', '--token', 'tok-1'])
      expect(JSON.parse(r.stdout)).to.deep.include({ token: 'tok-1', caller: 'cli' })
    })

    it('takes the token from STOA_TOKEN when --token is not given', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:echo'], { env: { STOA_TOKEN: 'tok-env' } })
      expect(JSON.parse(r.stdout).token).to.equal('tok-env')
      const flag = await run(['act', SERVICE, 'role:math,cmd:echo', '--token', 'tok-flag'], {
        env: { STOA_TOKEN: 'tok-env' },
      })
      expect(JSON.parse(flag.stdout).token).to.equal('tok-flag')
    })

    it('reports a refused token as UNAUTHENTICATED in one line, exit 1', async () => {
      const bad = await run(['act', SERVICE, 'role:math,cmd:whoami', '--token', 'forged'])
      expect(bad).to.deep.equal({ code: 1, stdout: '', stderr: 'UNAUTHENTICATED: invalid token\n' })
      const good = await run(['act', SERVICE, 'role:math,cmd:whoami', '--token', 'good-token'])
      expect(good).to.deep.equal({ code: 0, stdout: '{"id":"user-1"}\n', stderr: '' })
    })

    it('fails with TIMEOUT after --timeout', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:slow', 'ms=2000', '--timeout', '20'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.equal('TIMEOUT: "cmd:slow,role:math" did not finish before its deadline\n')
    })

    it('names a plugin-only service with --name', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/plugin.ts', 'role:math,cmd:echo', '--name', 'calculator'])
      expect(r.code).to.equal(0)
    })

    it('refuses --name for a service that names itself', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:echo', '--name', 'other'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/defines service "math"; --name cannot rename it/)
    })
  })

  describe('output', () => {
    it('prints compact JSON in a pipe and indented JSON on a terminal', async () => {
      const piped = await run(['act', SERVICE, 'role:math,cmd:sum', 'left=1', 'right=2'])
      const tty = await run(['act', SERVICE, 'role:math,cmd:sum', 'left=1', 'right=2'], { tty: true })
      expect(piped.stdout).to.equal('{"answer":3}\n')
      expect(tty.stdout).to.equal('{\n  "answer": 3\n}\n')
    })

    it('prints null for an action that returns nothing', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:none'])
      expect(r).to.deep.equal({ code: 0, stdout: 'null\n', stderr: '' })
    })
  })

  describe('values and the schema', () => {
    it('parses numbers for number fields and keeps text for text fields, as the schema says', async () => {
      const r = await run([
        'act',
        'test/fixtures/cli-math/schema-text.ts',
        'role:address,cmd:check',
        'zip=01234',
        'house=12',
      ])
      expect(r).to.deep.equal({ code: 0, stdout: '{"zip":"01234","house":12}\n', stderr: '' })
      const n = await run([
        'act',
        'test/fixtures/cli-math/schema-text.ts',
        'role:address,cmd:check',
        'zip=12345',
        'house=7',
      ])
      expect(n).to.deep.equal({ code: 0, stdout: '{"zip":"12345","house":7}\n', stderr: '' })
    })
  })

  describe('failures', () => {
    it('reports an unknown pattern as NOT_FOUND in one line, exit 1', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:nope'])
      expect(r).to.deep.equal({ code: 1, stdout: '', stderr: 'NOT_FOUND: no action matches "cmd:nope,role:math"\n' })
    })

    it('reports a schema failure as INVALID_MESSAGE naming the field', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', 'left=one', 'right=2'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^INVALID_MESSAGE: invalid message: left: .+\n$/)
    })

    it("passes an action's StoaError through with its code", async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:deny'])
      expect(r).to.deep.equal({ code: 1, stdout: '', stderr: 'FORBIDDEN: not for you\n' })
    })

    it('reports a thrown Error as ACTION_FAILED without its message or stack, naming --verbose', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:fail'])
      expect(r).to.deep.equal({
        code: 1,
        stdout: '',
        stderr: 'ACTION_FAILED: action "cmd:fail,role:math" failed\n  (run again with --verbose to see the cause)\n',
      })
    })

    it('shows details, stacks and causes with --verbose', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:fail', '--verbose'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.match(/^ACTION_FAILED: action "cmd:fail,role:math" failed$/m)
      expect(r.stderr).to.contain('caused by: Error: secret database password in this message\n    at ')
      const deny = await run(['act', SERVICE, 'role:math,cmd:deny', '--verbose'])
      expect(deny.stderr).to.contain('details: {"need":"math:admin"}\n')
    })

    it('reports a Seneca reply(err) as ACTION_FAILED', async () => {
      const r = await run(['act', 'test/fixtures/cli-math/seneca.cjs', 'role:calc,cmd:fail'])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.equal(
        'ACTION_FAILED: action "cmd:fail,role:calc" failed\n  (run again with --verbose to see the cause)\n',
      )
    })
  })

  describe('--url', () => {
    it('refuses a lambda: URL without a function, with an unknown parameter, or with --service, exit 2', async () => {
      for (const argv of [
        ['--url', 'lambda:'],
        ['--url', 'lambda:math?zone=x'],
        ['--url', 'lambda:has space'],
        ['--url', 'lambda:math', '--service', 'math'],
      ]) {
        const r = await run(['act', ...argv, 'role:math,cmd:sum'])
        expect(r.code, argv.join(' ')).to.equal(2)
        expect(r.stderr).to.match(/^stoa act: /)
      }
    })

    it('refuses an unsupported scheme or a non-URL with exit 2', async () => {
      expect((await run(['act', '--url', 'ftp://x', 'role:a'])).stderr).to.match(/unsupported URL scheme "ftp:"/)
      expect((await run(['act', '--url', 'nowhere', 'role:a'])).stderr).to.match(/--url is not a URL: nowhere/)
    })

    it('needs the target service of an amqp URL', async () => {
      const r = await run(['act', '--url', 'amqp://127.0.0.1', 'role:math,cmd:sum'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/needs the service to ask: --service <name> or \?service=<name>/)
    })

    it('refuses --service with an http URL', async () => {
      const r = await run(['act', '--url', 'http://127.0.0.1:9', '--service', 'math', 'role:math,cmd:sum'])
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(/--service names an RPC queue/)
    })

    it('refuses --service without --url', async () => {
      const r = await run(['act', SERVICE, 'role:math,cmd:sum', '--service', 'math'])
      expect(r.code).to.equal(2)
    })
  })
})
