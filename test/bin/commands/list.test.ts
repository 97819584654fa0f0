import { expect } from 'chai'
import { z } from 'zod'
import { createStoa } from '../../../actions/index.js'
import { summarize } from '../../../bin/commands/list.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { waitFor } from '../../helpers/wait.js'
import { run } from '../run.js'

describe('bin/commands/list', () => {
  it('prints each pattern with its schema keys, permission and description', async () => {
    const r = await run(['list', 'test/fixtures/cli-math/service.ts'])
    expect(r.code).to.equal(0)
    expect(r.stderr).to.equal('')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).to.match(/^PATTERN\s+MESSAGE\s+PERMISSION\s+DESCRIPTION$/)
    expect(
      lines.some((l) => /^cmd:sum,role:math\s+left, right, round\?\s+math:use\s+adds two numbers$/.test(l)),
      String(/^cmd:sum,role:math\s+left, right, round\?\s+math:use\s+adds two numbers$/),
    ).to.equal(true)
    expect(
      lines.some((l) => /^cmd:echo,role:math\s+-\s+-$/.test(l)),
      String(/^cmd:echo,role:math\s+-\s+-$/),
    ).to.equal(true)
    expect(
      lines.some((l) => /^task:math\.total\.reset\s/.test(l)),
      String(/^task:math\.total\.reset\s/),
    ).to.equal(true)
    expect(
      lines.some((l) => /^event:total\.changed\s/.test(l)),
      String(/^event:total\.changed\s/),
    ).to.equal(true)
  })

  it('prints one JSON array with --json', async () => {
    const r = await run(['list', 'test/fixtures/cli-math/service.ts', '--json'])
    expect(r.code).to.equal(0)
    const list = JSON.parse(r.stdout) as { pattern: string }[]
    expect(list.find((e) => e.pattern === 'cmd:sum,role:math')).to.deep.equal({
      kind: 'action',
      pattern: 'cmd:sum,role:math',
      plugin: 'math',
      schema: { keys: ['left', 'right', 'round'], required: ['left', 'right'] },
      permission: 'math:use',
      public: false,
      description: 'adds two numbers',
    })
    expect(list.find((e) => e.pattern === 'task:math.total.reset')).to.deep.include({ kind: 'task', schema: null })
    expect(list.find((e) => e.pattern === 'event:total.changed')).to.deep.include({ kind: 'event', plugin: 'math' })
  })

  it('lists the hooks around the calls, outermost first, with their plugin', async () => {
    const r = await run(['list', 'test/fixtures/cli-math/hooked.ts'])
    expect(r.code).to.equal(0)
    expect(r.stdout.trimEnd().split('\n').at(-1)).to.match(/^hook:inbound\+outbound\s+-\s+-\s+plugin audit$/)
    const json = JSON.parse((await run(['list', 'test/fixtures/cli-math/hooked.ts', '--json'])).stdout) as {
      kind: string
    }[]
    expect(json.filter((e) => e.kind === 'hook')).to.deep.equal([
      {
        kind: 'hook',
        pattern: 'inbound+outbound',
        plugin: 'audit',
        schema: null,
        permission: null,
        public: false,
        description: null,
      },
    ])
  })

  it('lists the actions of a Seneca-style plugin', async () => {
    const r = await run(['list', 'test/fixtures/cli-math/seneca.cjs', '--json'])
    expect((JSON.parse(r.stdout) as { pattern: string }[]).map((e) => e.pattern)).to.deep.equal([
      'cmd:fail,role:calc',
      'cmd:sum,role:calc',
    ])
  })

  it('exits 2 without a service, 1 for one that cannot load', async () => {
    expect((await run(['list'])).code).to.equal(2)
    expect((await run(['list', 'a.ts', 'b.ts'])).code).to.equal(2)
    const broken = await run(['list', 'test/fixtures/cli-math/broken.ts'])
    expect(broken.code).to.equal(1)
    expect(broken.stderr).to.match(/^INVALID_PLUGIN: /)
  })

  describe('summarize', () => {
    it('reads keys and required keys from a Standard JSON Schema', () => {
      expect(summarize(z.object({ a: z.string(), b: z.number().optional() }))).to.deep.equal({
        keys: ['a', 'b'],
        required: ['a'],
      })
    })

    it('says "schema" for a schema whose keys cannot be told', () => {
      expect(summarize(z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]))).to.deep.equal({
        keys: null,
        required: null,
      })
      const custom = { '~standard': { version: 1 as const, vendor: 'x', validate: (v: unknown) => ({ value: v }) } }
      expect(summarize(custom)).to.deep.equal({ keys: null, required: null })
    })

    it('falls back to a shape without required keys', () => {
      const shaped = {
        shape: { x: 1, y: 2 },
        '~standard': { version: 1 as const, vendor: 'x', validate: (v: unknown) => ({ value: v }) },
      }
      expect(summarize(shaped)).to.deep.equal({ keys: ['x', 'y'], required: null })
    })
  })

  it('lists a running service with --url: what stoa serve runs, as the module lists', async () => {
    const stop = new AbortController()
    let out = ''
    const served = run(['serve', 'test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], {
      stop: stop.signal,
      onStdout: (s) => (out += s),
    })
    try {
      await waitFor(() => out.includes(' listening on '), 'serve to listen', 30_000)
      const url = /listening on (\S+)/.exec(out)![1]!
      const remote = await run(['list', '--url', url, '--json'])
      expect(remote.code, remote.stderr).to.equal(0)
      const local = JSON.parse((await run(['list', 'test/fixtures/cli-math/service.ts', '--json'])).stdout) as unknown[]
      const listed = JSON.parse(remote.stdout) as { pattern: string; plugin: string | null }[]
      // The module's own entries, in order; serve adds the health plugin's, never its own list action.
      expect(listed.filter((e) => !e.pattern.includes('role:health') && e.plugin !== 'health')).to.deep.equal(local)
      expect(listed.map((e) => e.pattern)).to.include('cmd:ready,role:health')
      expect(listed.map((e) => e.pattern)).not.to.include('cmd:list,role:stoa')
      const text = await run(['list', '--url', url])
      expect(text.stdout).to.match(/^cmd:sum,role:math\s+left, right, round\?\s+math:use\s+adds two numbers$/m)
    } finally {
      stop.abort('SIGTERM')
      await served
    }
  })

  it('says which services answer --url, and refuses a module path beside it', async () => {
    const both = await run(['list', 'test/fixtures/cli-math/service.ts', '--url', 'http://127.0.0.1:1'])
    expect(both.code).to.equal(2)
    expect(both.stderr).to.include('not both')
    // A service from its own main: its HTTP listener answers acts, but nothing lists it.
    const transport = createHttpTransport({ host: '127.0.0.1', port: 0 })
    const plain = createStoa({ name: 'plain' })
      .add('role:plain,cmd:ping', () => 'pong')
      .listen(transport)
    await plain.ready()
    try {
      const r = await run(['list', '--url', transport.address()!])
      expect(r.code).to.equal(1)
      expect(r.stderr).to.include('answers no role:stoa,cmd:list: only a service run by stoa serve lists its actions')
    } finally {
      await plain.close()
    }
  })
})
