import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { run } from './run.js'

describe('bin/main', () => {
  it('prints the list of commands for --help and exits 0', async () => {
    const r = await run(['--help'])
    expect(r.code).to.equal(0)
    for (const name of ['act', 'serve', 'list', 'routes', 'help'])
      expect(r.stdout).to.match(new RegExp(`^  ${name} `, 'm'))
    expect(r.stderr).to.equal('')
  })

  it("prints stoa's version for --version and -v and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    for (const flag of ['--version', '-v']) {
      const r = await run([flag])
      expect(r.code, flag).to.equal(0)
      expect(r.stdout).to.equal(`${version}\n`)
    }
  })

  it('prints the list of commands on stderr and exits 2 without a command', async () => {
    const r = await run([])
    expect(r.code).to.equal(2)
    expect(r.stdout).to.equal('')
    expect(r.stderr).to.contain('Commands:')
  })

  it('refuses an unknown command with exit 2', async () => {
    const r = await run(['frobnicate'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa: unknown command "frobnicate"\n/)
    expect(r.stderr).to.contain('stoa --help')
  })

  it('prints a command\'s help for "help <command>" and for "<command> --help"', async () => {
    const a = await run(['help', 'act'])
    const b = await run(['act', '--help'])
    expect(a.code).to.equal(0)
    expect(b.code).to.equal(0)
    expect(a.stdout).to.contain('stoa act <service> <pattern> [key=value ...]')
    expect(a.stdout).to.contain('--token')
    expect(b.stdout).to.equal(a.stdout)
  })

  it('lists send, emit and token, and describes serve --web as it works (node:http, express for middleware)', async () => {
    const all = await run(['--help'])
    for (const name of ['send', 'emit', 'token']) expect(all.stdout).to.match(new RegExp(`^  ${name} `, 'm'))
    const serve = await run(['help', 'serve'])
    expect(serve.stdout).to.include("the routes of the service's web plugin, answered on node:http")
    expect(serve.stdout).to.include('goes to express')
    expect(serve.stdout).to.include('what the plugins serve over HTTP')
    expect(serve.stdout).to.include('--remote <service>=<url>')
    expect(serve.stdout).to.not.include('plugin, over express')
  })

  it('prints the overview for "help" alone', async () => {
    const r = await run(['help'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.contain('Commands:')
  })

  it('refuses help for an unknown command with exit 2', async () => {
    const r = await run(['help', 'nope'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa help: unknown command "nope"/)
  })

  it("refuses an unknown option with exit 2 and the command's usage", async () => {
    const r = await run(['act', 'x.js', 'role:a', '--frob'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa act: .*--frob/)
    expect(r.stderr).to.contain('Usage:\n  stoa act <service>')
    expect(r.stderr).to.contain('stoa help act')
  })

  it('refuses a string option without its value with exit 2', async () => {
    const r = await run(['act', 'role:a', '--url'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa act: .*--url/)
  })

  it('takes --json as a flag for list and as a message for act', async () => {
    const list = await run(['list', 'test/fixtures/cli-math/seneca.cjs', '--json'])
    expect(list.code).to.equal(0)
    expect(JSON.parse(list.stdout)).to.be.an('array')
    const act = await run([
      'act',
      'test/fixtures/cli-math/seneca.cjs',
      'role:calc,cmd:sum',
      '--json',
      '{"left":2,"right":3}',
    ])
    expect(act.code).to.equal(0)
    expect(JSON.parse(act.stdout)).to.deep.equal({ answer: 5 })
  })
})
