import { expect } from 'chai'
import { run } from '../run.js'

describe('bin/commands/routes', () => {
  it("prints the route table of the service's web plugin", async () => {
    const r = await run(['routes', 'test/fixtures/cli-web/service.ts'])
    expect(r.code).to.equal(0)
    expect(r.stderr).to.equal('')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).to.match(/^METHOD\s+PATH\s+PATTERN\s+STATUS$/)
    expect(
      lines.some((l) => /^POST\s+\/sum\s+cmd:sum,role:math\s+200$/.test(l)),
      String(/^POST\s+\/sum\s+cmd:sum,role:math\s+200$/),
    ).to.equal(true)
    expect(
      lines.some((l) => /^POST\s+\/echo\/:id\s+cmd:echo,role:math\s+202$/.test(l)),
      String(/^POST\s+\/echo\/:id\s+cmd:echo,role:math\s+202$/),
    ).to.equal(true)
  })

  it('prints the routes as one JSON array with --json', async () => {
    const r = await run(['routes', 'test/fixtures/cli-web/service.ts', '--json'])
    expect(r.code).to.equal(0)
    const routes = JSON.parse(r.stdout) as { method: string; path: string; pattern: string }[]
    expect(routes.map((x) => [x.method, x.path, x.pattern])).to.deep.equal([
      ['POST', '/sum', 'cmd:sum,role:math'],
      ['POST', '/echo/:id', 'cmd:echo,role:math'],
    ])
  })

  it('names the middleware of seneca-web routes in --json, functions by their name', async () => {
    const r = await run(['routes', 'test/fixtures/cli-web/seneca-web.ts', '--json'])
    expect(r.code, r.stderr).to.equal(0)
    const routes = JSON.parse(r.stdout) as {
      method: string
      path: string
      middleware?: string[]
      secure?: object
      redirect?: string
    }[]
    const cast = routes.find((x) => x.path === '/secure/cast')
    expect(cast).to.deep.include({
      method: 'POST',
      middleware: ['signin', '[function block]'],
      secure: { fail: '/login' },
      redirect: '/thanks',
    })
  })

  it('prints no routes, and says why on stderr, for a service without a web plugin', async () => {
    const r = await run(['routes', 'test/fixtures/cli-math/service.ts', '--json'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.equal('[]\n')
    expect(r.stderr).to.equal('no routes: service "math" loads no web plugin\n')
  })
})
