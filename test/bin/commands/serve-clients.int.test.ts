import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import { waitFor } from '../../helpers/wait.js'
import type { Run } from '../run.js'
import { run } from '../run.js'

/** `stoa serve` in process: the URLs it printed, its stderr so far, and a stop. */
async function serve(
  argv: string[],
  expected: number,
): Promise<{ urls: string[]; err(): string; stop(): Promise<Run> }> {
  const stop = new AbortController()
  let out = ''
  let err = ''
  const done = run(['serve', ...argv], { stop: stop.signal, onStdout: (s) => (out += s), onStderr: (s) => (err += s) })
  let ended: Run | undefined
  void done.then((r) => (ended = r))
  const lines = () => out.split('\n').filter((l) => l.includes(' listening on '))
  await waitFor(() => ended !== undefined || lines().length >= expected, 'serve to listen', 30_000)
  if (ended !== undefined) throw new Error(`serve ended early with ${ended.code}: ${ended.stderr}`)
  return {
    urls: lines().map((l) => l.slice(l.indexOf(' listening on ') + ' listening on '.length)),
    err: () => err,
    stop: () => {
      stop.abort('SIGTERM')
      return done
    },
  }
}

/** The warnings in a pino log on stderr. */
function warnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number | string; msg: string })
    .filter((e) => e.level === 40 || e.level === 'warn')
    .map((e) => e.msg)
}

describe('bin/commands/serve: a service’s declared clients', () => {
  const prefix = `fh-${randomBytes(4).toString('hex')}`
  after(() => deleteTopology(prefix, ['math', 'edge']))

  it('wires defineService({ clients }) through --amqp: a web route answers from the remote service', async () => {
    const amqp = `${AMQP_URL}?prefix=${prefix}`
    const math = await serve(['test/fixtures/cli-math/service.ts', '--amqp', amqp], 1)
    const edge = await serve(['test/fixtures/cli-web/remote.ts', '--amqp', amqp, '--web', '127.0.0.1:0'], 2)
    try {
      const web = edge.urls.find((u) => u.startsWith('http:'))!
      const res = await fetch(`${web}/sum`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ left: 1, right: 2 }),
      })
      expect(res.status).to.equal(200)
      expect(await res.json()).to.deep.equal({ answer: 3 })
      // The route nothing answers was named at start, the one math answers was not.
      expect(warnings(edge.err())).to.deep.equal([
        'route GET /orphan acts on "cmd:look,role:nobody", which no action of "edge" and no client answers: it would answer 404',
        'action "cmd:total,role:edge" acts on "cmd:write,role:ledger", which no action of "edge" and no client answers: the call would fail NOT_FOUND',
      ])
    } finally {
      await edge.stop()
      await math.stop()
    }
  })

  it('warns at start, with no broker, that the declared service and the routes on it are unreachable', async () => {
    const edge = await serve(['test/fixtures/cli-web/remote.ts', '--web', '127.0.0.1:0'], 1)
    try {
      expect(warnings(edge.err())).to.deep.equal([
        'service "edge" calls "math" (role:math), but nothing reaches it: serve with --amqp, --nats or --remote math=<url>',
        'route POST /sum acts on "cmd:sum,role:math", which no action of "edge" and no client answers: it would answer 404',
        'route GET /orphan acts on "cmd:look,role:nobody", which no action of "edge" and no client answers: it would answer 404',
        'action "cmd:total,role:edge" acts on "cmd:sum,role:math", which no action of "edge" and no client answers: the call would fail NOT_FOUND',
        'action "cmd:total,role:edge" acts on "cmd:write,role:ledger", which no action of "edge" and no client answers: the call would fail NOT_FOUND',
      ])
    } finally {
      await edge.stop()
    }
  })

  it('reaches a declared service over HTTP with --remote <service>=<url>', async () => {
    const math = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    const edge = await serve(
      ['test/fixtures/cli-web/remote.ts', '--web', '127.0.0.1:0', '--remote', `math=${math.urls[0]}`],
      1,
    )
    try {
      const res = await fetch(`${edge.urls[0]}/sum`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ left: 2, right: 3 }),
      })
      expect(res.status).to.equal(200)
      expect(await res.json()).to.deep.equal({ answer: 5 })
      expect(warnings(edge.err())).to.deep.equal([
        'route GET /orphan acts on "cmd:look,role:nobody", which no action of "edge" and no client answers: it would answer 404',
        'action "cmd:total,role:edge" acts on "cmd:write,role:ledger", which no action of "edge" and no client answers: the call would fail NOT_FOUND',
      ])
    } finally {
      await edge.stop()
      await math.stop()
    }
  })

  it('refuses a --remote for a service the module does not call, or one that is not HTTP', async () => {
    const undeclared = await run([
      'serve',
      'test/fixtures/cli-web/remote.ts',
      '--web',
      '127.0.0.1:0',
      '--remote',
      'mth=http://127.0.0.1:1',
    ])
    expect(undeclared.code).to.equal(2)
    expect(undeclared.stderr).to.include(
      '--remote names "mth", which service "edge" does not call: its clients are math',
    )
    const broker = await run([
      'serve',
      'test/fixtures/cli-web/remote.ts',
      '--web',
      '127.0.0.1:0',
      '--remote',
      `math=${AMQP_URL}`,
    ])
    expect(broker.code).to.equal(2)
    expect(broker.stderr).to.include('--remote math: amqp:// is not HTTP')
  })
})
