import { expect } from 'chai'
import { waitFor } from '../../helpers/wait.js'
import { AMQP_URL, declared, deleteDeclared, uniquePrefix } from '../broker.js'
import type { Serving } from '../spawn.js'
import { serve, stoa } from '../spawn.js'

const SERVICE = 'test/fixtures/cli-math/service.ts'

describe('stoa serve (spawned)', function () {
  this.timeout(60_000)
  let served: Serving | undefined

  afterEach(async () => {
    // A test that failed midway still stops what it started.
    if (served !== undefined && served.child.exitCode === null) {
      served.child.kill('SIGKILL')
      await served.exit
    }
    served = undefined
  })

  describe('over HTTP', () => {
    it('prints its address, answers stoa act --url, and exits 0 after SIGTERM', async () => {
      served = await serve([SERVICE, '--http', '127.0.0.1:0'], 1)
      const [url] = served.urls
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
      const r = await stoa(['act', '--url', url!, 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(r).to.deep.include({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
      const denied = await stoa(['act', '--url', url!, 'role:math,cmd:deny'])
      expect(denied).to.deep.include({ code: 1, stdout: '', stderr: 'FORBIDDEN: not for you\n' })
      const forged = await stoa(['act', '--url', url!, 'role:math,cmd:whoami'], { env: { STOA_TOKEN: 'forged' } })
      expect(forged).to.deep.include({ code: 1, stdout: '', stderr: 'UNAUTHENTICATED: invalid token\n' })
      const good = await stoa(['act', '--url', url!, 'role:math,cmd:whoami', '--token', 'good-token'])
      expect(good).to.deep.include({ code: 0, stdout: '{"id":"user-1"}\n' })
      const end = await served.stop()
      expect(end.code).to.equal(0)
      expect(end.stderr).to.contain('math closing on SIGTERM')
    })

    it('finishes an act in flight before exiting on SIGTERM', async () => {
      served = await serve([SERVICE, '--http', '127.0.0.1:0'], 1)
      const slow = stoa(['act', '--url', served.urls[0]!, 'role:math,cmd:slow', 'ms=500', 'announce=true'])
      const s = served
      await waitFor(() => s.stderr().includes('slow: started'), 'the slow action to start', 10_000)
      const end = await served.stop()
      expect(end.code).to.equal(0)
      expect(await slow).to.deep.include({ code: 0, stdout: '{"slept":500}\n' })
    })

    it('exits 1 at once on a second signal, without waiting for work in flight', async () => {
      served = await serve([SERVICE, '--http', '127.0.0.1:0'], 1)
      const slow = stoa(['act', '--url', served.urls[0]!, 'role:math,cmd:slow', 'ms=20000', 'announce=true'])
      const s = served
      await waitFor(() => s.stderr().includes('slow: started'), 'the slow action to start', 10_000)
      s.child.kill('SIGTERM')
      await waitFor(() => s.stderr().includes('math closing on SIGTERM'), 'serve to start closing', 10_000)
      s.child.kill('SIGTERM')
      const end = await s.exit
      expect(end.code).to.equal(1)
      const cut = await slow
      expect(cut.code).to.equal(1)
      expect(cut.stderr).to.match(/^UNAVAILABLE: /)
    })

    it('serves --http over HTTPS with --tls-key and --tls-cert', async () => {
      served = await serve(
        [
          SERVICE,
          '--http',
          '127.0.0.1:0',
          '--tls-key',
          'test/fixtures/tls/key.pem',
          '--tls-cert',
          'test/fixtures/tls/cert.pem',
        ],
        1,
      )
      const [url] = served.urls
      expect(url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/)
      // A client trusts the self-signed certificate the way node lets any process trust one.
      const trusted = await stoa(['act', '--url', url!, 'role:math,cmd:sum', 'left=1', 'right=2'], {
        env: { NODE_EXTRA_CA_CERTS: 'test/fixtures/tls/cert.pem' },
      })
      expect(trusted).to.deep.include({ code: 0, stdout: '{"answer":3}\n', stderr: '' })
      const untrusted = await stoa(['act', '--url', url!, 'role:math,cmd:sum', 'left=1', 'right=2'])
      expect(untrusted.code).to.equal(1)
      expect(untrusted.stderr).to.match(/^UNAVAILABLE: .*SELF_SIGNED/)
      expect((await served.stop()).code).to.equal(0)
    })

    it('refuses TLS files without --http, one without the other, or unreadable, with exit 2', async () => {
      const key = ['--tls-key', 'test/fixtures/tls/key.pem']
      const cert = ['--tls-cert', 'test/fixtures/tls/cert.pem']
      const cases: [string[], RegExp][] = [
        [[...key], /--tls-key and --tls-cert go together/],
        [[...key, ...cert, '--amqp', 'amqp://127.0.0.1'], /give --http too/],
        [
          ['--http', '127.0.0.1:0', '--tls-key', 'no/such.pem', ...cert],
          /--tls-key: cannot read "no\/such.pem" \(ENOENT\)/,
        ],
      ]
      for (const [flags, message] of cases) {
        const r = await stoa([
          'serve',
          SERVICE,
          ...(flags.includes('--http') || flags.includes('--amqp') ? [] : ['--http', '127.0.0.1:0']),
          ...flags,
        ])
        expect(r.code, flags.join(' ')).to.equal(2)
        expect(r.stderr).to.match(message)
      }
    })

    it("serves the web plugin's routes with --web", async () => {
      served = await serve(['test/fixtures/cli-web/service.ts', '--web', '127.0.0.1:0'], 1)
      const res = await fetch(`${served.urls[0]}/sum`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"left":2,"right":3}',
      })
      expect(res.status).to.equal(200)
      expect(await res.json()).to.deep.equal({ answer: 5 })
      expect((await served.stop()).code).to.equal(0)
    })

    it('exits on SIGINT too', async () => {
      served = await serve([SERVICE, '--http', '127.0.0.1:0'], 1)
      served.child.kill('SIGINT')
      const end = await served.exit
      expect(end.code).to.equal(0)
      expect(end.stderr).to.contain('math closing on SIGINT')
    })
  })

  describe('over AMQP', () => {
    const prefix = uniquePrefix()
    after(async () => {
      await deleteDeclared(prefix)
      expect(await declared(prefix)).to.deep.equal([])
    })

    it('answers stoa act --url amqp://… and exits 0 after SIGTERM', async () => {
      served = await serve([SERVICE, '--amqp', `${AMQP_URL}?prefix=${prefix}`], 1)
      // The listening line names the prefix, in a URL `stoa act --url` reads back.
      expect(served.urls[0]).to.equal(`amqp://guest:***@127.0.0.1:5672?prefix=${prefix}`)
      const url = `${AMQP_URL}?prefix=${prefix}&service=math`
      const r = await stoa(['act', '--url', url, 'role:math,cmd:sum', 'left=20', 'right=22'])
      expect(r).to.deep.include({ code: 0, stdout: '{"answer":42}\n', stderr: '' })
      const viaFlag = await stoa([
        'act',
        '--url',
        `${AMQP_URL}?prefix=${prefix}`,
        '--service',
        'math',
        'role:math,cmd:nope',
      ])
      expect(viaFlag).to.deep.include({ code: 1, stdout: '' })
      expect(viaFlag.stderr).to.match(/^NOT_FOUND: [^\n]+\n$/)
      const echo = await stoa(['act', '--url', url, 'role:math,cmd:echo', '--token', 'tok'])
      expect(JSON.parse(echo.stdout)).to.deep.include({ token: 'tok', caller: 'cli' })
      const end = await served.stop()
      expect(end.code).to.equal(0)
      expect(end.stderr).to.contain('math closing on SIGTERM')
    })

    it("delivers the service's own events through the broker", async () => {
      served = await serve([SERVICE, '--amqp', `${AMQP_URL}?prefix=${prefix}`], 1)
      const url = `${AMQP_URL}?prefix=${prefix}&service=math`
      expect((await stoa(['act', '--url', url, 'role:math,cmd:bump'])).code).to.equal(0)
      let total = 0
      const until = Date.now() + 10_000
      while (total === 0 && Date.now() < until)
        total = JSON.parse((await stoa(['act', '--url', url, 'role:math,cmd:total'])).stdout).total
      expect(total).to.equal(1)
      expect((await served.stop()).code).to.equal(0)
    })
  })
})
