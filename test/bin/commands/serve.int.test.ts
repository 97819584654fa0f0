import { expect } from 'chai'
import { waitFor } from '../../helpers/wait.js'
import type { Run } from '../run.js'
import { run } from '../run.js'

/** A `stoa serve` running in this process, stopped by aborting its signal. */
interface Served {
  /** The URLs it printed, in order. */
  readonly urls: string[]
  /** Asks it to stop and resolves with how it ended. */
  stop(): Promise<Run>
  readonly done: Promise<Run>
  /** Everything it printed on stdout so far. */
  out(): string
}

async function serve(argv: string[], expected: number): Promise<Served> {
  const stop = new AbortController()
  let out = ''
  const done = run(['serve', ...argv], { stop: stop.signal, onStdout: (s) => (out += s) })
  let ended: Run | undefined
  void done.then((r) => (ended = r))
  await waitFor(
    () => ended !== undefined || out.split('\n').filter((l) => l.includes(' listening on ')).length >= expected,
    'serve to print its addresses',
  )
  if (ended !== undefined) throw new Error(`serve ended early with ${ended.code}: ${ended.stderr}`)
  const urls = out
    .split('\n')
    .filter((l) => l.includes(' listening on '))
    .map((l) => l.slice(l.indexOf(' listening on ') + ' listening on '.length))
  return {
    urls,
    done,
    out: () => out,
    stop: () => {
      stop.abort('SIGTERM')
      return done
    },
  }
}

describe('bin/commands/serve (in process, HTTP on 127.0.0.1)', () => {
  let served: Served | undefined
  afterEach(async () => {
    await served?.stop()
    served = undefined
  })

  it("serves the contracts plugin's documents and reference page on --web and --http", async () => {
    served = await serve(['test/fixtures/cli-web/documented.ts', '--http', '127.0.0.1:0', '--web', '127.0.0.1:0'], 2)
    for (const url of served.urls) {
      const page = await fetch(`${url}/docs`)
      expect(page.status, url).to.equal(200)
      expect(page.headers.get('content-security-policy'), url).to.include("default-src 'none'")
      await page.text()
    }
    const web = served.urls[1]!
    const doc = (await (await fetch(`${web}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).to.include('/sum')
    expect((await fetch(`${web}/asyncapi.json`)).status).to.equal(200)
  })

  it('serves a service over --http until stopped, and stoa act --url reaches it', async () => {
    served = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    expect(served.urls).to.have.length(1)
    expect(served.urls[0]).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
    const r = await run(['act', '--url', served.urls[0]!, 'role:math,cmd:sum', 'left=1', 'right=2'])
    expect(r).to.deep.equal({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
    const end = await served.stop()
    served = undefined
    expect(end.code).to.equal(0)
    expect(end.stderr).to.equal('math closing on SIGTERM\n')
  })

  it('carries errors, token and caller through --url', async () => {
    served = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    const url = served.urls[0]!
    expect(await run(['act', '--url', url, 'role:math,cmd:deny'])).to.deep.include({
      code: 1,
      stderr: 'FORBIDDEN: not for you\n',
    })
    expect(await run(['act', '--url', url, 'role:math,cmd:nope'])).to.deep.include({ code: 1 })
    const echo = await run(['act', '--url', url, 'role:math,cmd:echo', 'a.b=1'], { env: { STOA_TOKEN: 'tok' } })
    expect(JSON.parse(echo.stdout)).to.deep.include({ token: 'tok' })
    expect(JSON.parse(echo.stdout).msg).to.deep.include({ a: { b: 1 } })
  })

  it("delivers the service's own events to its subscribers without a broker", async () => {
    served = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    const url = served.urls[0]!
    expect((await run(['act', '--url', url, 'role:math,cmd:bump'])).code).to.equal(0)
    // The event is handed over when bump answers and counted soon after: ask until it shows.
    let total = 0
    const until = Date.now() + 5000
    while (total === 0 && Date.now() < until) {
      total = JSON.parse((await run(['act', '--url', url, 'role:math,cmd:total'])).stdout).total
    }
    expect(total).to.equal(1)
  })

  it("serves the web plugin's routes with --web beside --http", async () => {
    served = await serve(['test/fixtures/cli-web/service.ts', '--http', '127.0.0.1:0', '--web', '127.0.0.1:0'], 2)
    const [http, web] = served.urls
    expect(http).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(web).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(web).to.not.equal(http)
    const res = await fetch(`${web}/sum`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"left":2,"right":3}',
    })
    expect(res.status).to.equal(200)
    expect(await res.json()).to.deep.equal({ answer: 5 })
  })

  it('serves /metrics on --http, --web and --metrics for a service with the metrics plugin', async () => {
    served = await serve(
      [
        'test/fixtures/cli-web/observed.ts',
        '--http',
        '127.0.0.1:0',
        '--web',
        '127.0.0.1:0',
        '--metrics',
        '127.0.0.1:0',
      ],
      3,
    )
    const [http, alone, web] = served.urls
    expect(alone).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const sum = await fetch(`${web}/sum`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"left":2,"right":3}',
    })
    expect(sum.status).to.equal(200)
    expect((await run(['act', '--url', http!, 'role:math,cmd:deny'])).code).to.equal(1)
    for (const url of [`${http}/metrics`, alone!, `${web}/metrics`]) {
      const res = await fetch(url)
      expect(res.status, url).to.equal(200)
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/)
      const text = await res.text()
      expect(text).to.match(
        /stoa_calls_total\{pattern="cmd:sum,role:math",kind="act",transport="local",outcome="ok",service="gateway"\} 1/,
      )
      expect(text).to.match(
        /stoa_calls_total\{pattern="cmd:deny,role:math",kind="act",transport="http",outcome="FORBIDDEN",service="gateway"\} 1/,
      )
      expect(text).to.match(/stoa_http_responses_total\{route="POST \/sum",status="200",service="gateway"\} 1/)
    }
    // The metrics server answers as every stoa server: 405 with Allow, 404 with the error table's code.
    const post = await fetch(alone!, { method: 'POST' })
    expect([post.status, post.headers.get('allow')]).to.deep.equal([405, 'GET, HEAD'])
    expect((await post.json()).error).to.include({ code: 'METHOD_NOT_ALLOWED' })
    const other = await fetch(alone!.replace(/\/metrics$/, '/other'))
    expect(other.status).to.equal(404)
    expect((await other.json()).error).to.include({ code: 'NOT_FOUND' })
    const end = await served.stop()
    served = undefined
    expect(end.code).to.equal(0)
  })

  it('logs a call line at LOG_LEVEL=debug, as JSON with its trace and outcome', async () => {
    const stop = new AbortController()
    let out = ''
    const done = run(['serve', 'test/fixtures/cli-web/observed.ts', '--http', '127.0.0.1:0'], {
      stop: stop.signal,
      env: { LOG_LEVEL: 'debug' },
      onStdout: (s) => (out += s),
    })
    await waitFor(() => out.includes(' listening on '), 'serve to listen')
    const url = out.slice(out.indexOf(' listening on ') + ' listening on '.length).trim()
    await fetch(`${url}/act`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        authorization: 'Bearer secret-token',
      },
      body: '{"role":"math","cmd":"echo"}',
    })
    stop.abort('SIGTERM')
    const end = await done
    const lines = end.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.find((l) => l.pattern === 'cmd:echo,role:math')).to.deep.include({
      service: 'gateway',
      kind: 'act',
      trace: '4bf92f3577b34da6a3ce929d0e0e4736',
      outcome: 'ok',
      level: 20,
    })
    expect(end.stderr).not.to.include('secret-token')
  })

  it('exits 2 for --web on a service without a web plugin', async () => {
    const r = await run(['serve', 'test/fixtures/cli-math/service.ts', '--web', '127.0.0.1:0'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa serve: service "math" loads no web plugin/)
  })

  it('reports UNAVAILABLE, one line, when nothing listens at --url', async () => {
    // A port that was free a moment ago: serve on it, stop, then call.
    const gone = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    const url = gone.urls[0]!
    await gone.stop()
    const r = await run(['act', '--url', url, 'role:math,cmd:sum', 'left=1', 'right=2'])
    expect(r.code).to.equal(1)
    expect(r.stdout).to.equal('')
    expect(r.stderr).to.match(/^UNAVAILABLE: [^\n]+\n$/)
  })

  it('fails to start, exit 1, when the port is taken', async () => {
    served = await serve(['test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0'], 1)
    const port = new URL(served.urls[0]!).port
    const r = await run(['serve', 'test/fixtures/cli-math/service.ts', '--http', `127.0.0.1:${port}`])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^[A-Z_]+: .*\n {2}\(run again with --verbose to see the cause\)\n$/)
  })

  it('serves /healthz and /readyz alone with --health, on the HTTP transport, and on the web listener', async () => {
    served = await serve(
      ['test/fixtures/cli-web/service.ts', '--http', '127.0.0.1:0', '--web', '127.0.0.1:0', '--health', '127.0.0.1:0'],
      2,
    )
    // Printed in the same breath as the addresses.
    const line = served
      .out()
      .split('\n')
      .find((l) => l.includes(' health on '))!
    const probes = line.slice(line.indexOf(' health on ') + ' health on '.length)
    for (const base of [probes, ...served.urls]) {
      expect((await fetch(`${base}/healthz`)).status, `${base}/healthz`).to.equal(200)
      const ready = await fetch(`${base}/readyz`)
      expect(ready.status, `${base}/readyz`).to.equal(200)
    }
    expect(await (await fetch(`${probes}/readyz`)).json()).to.deep.include({ ready: true })
  })

  it('exits 2 for a duration flag that is not a whole number of milliseconds', async () => {
    const r = await run(['serve', 'test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0', '--grace-ms', 'soon'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/--grace-ms takes a whole number of milliseconds/)
    expect(
      (await run(['serve', 'test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0', '--drain-delay-ms', '-1']))
        .code,
    ).to.equal(2)
    expect(
      (await run(['serve', 'test/fixtures/cli-math/service.ts', '--http', '127.0.0.1:0', '--health', '9000'])).code,
    ).to.equal(2)
  })

  it('exits 2 without a transport, or with a bad address', async () => {
    expect((await run(['serve', 'test/fixtures/cli-math/service.ts'])).stderr).to.match(
      /needs at least one of --http, --amqp, --nats, --web/,
    )
    expect((await run(['serve', 'test/fixtures/cli-math/service.ts', '--http', '3000'])).code).to.equal(2)
    expect((await run(['serve', 'test/fixtures/cli-math/service.ts', '--amqp', 'http://x'])).code).to.equal(2)
    expect((await run(['serve', 'test/fixtures/cli-math/service.ts', '--amqp', 'amqp://x?service=y'])).code).to.equal(2)
  })
})
