import { expect } from 'chai'
import { deleteStreams, NATS_URL, uniquePrefix } from '../../fixtures/nats-server.js'
import type { Serving } from '../spawn.js'
import { serve, stoa } from '../spawn.js'

const SERVICE = 'test/fixtures/cli-math/service.ts'

describe('stoa serve --nats (spawned)', function () {
  this.timeout(60_000)
  let served: Serving | undefined
  const prefix = uniquePrefix('cli')

  afterEach(async () => {
    // A test that failed midway still stops what it started.
    if (served !== undefined && served.child.exitCode === null) {
      served.child.kill('SIGKILL')
      await served.exit
    }
    served = undefined
  })
  after(() => deleteStreams(prefix))

  it('answers stoa act --url nats://…, by ?service=, --service or the role, and exits 0 after SIGTERM', async () => {
    served = await serve([SERVICE, '--nats', `${NATS_URL}?prefix=${prefix}`], 1)
    expect(served.urls[0]).to.equal(`${NATS_URL}?prefix=${prefix}`)
    const url = `${NATS_URL}?prefix=${prefix}&service=math`
    const r = await stoa(['act', '--url', url, 'role:math,cmd:sum', 'left=20', 'right=22'])
    expect(r).to.deep.include({ code: 0, stdout: '{"answer":42}\n', stderr: '' })
    const viaFlag = await stoa([
      'act',
      '--url',
      `${NATS_URL}?prefix=${prefix}`,
      '--service',
      'math',
      'role:math,cmd:nope',
    ])
    expect(viaFlag).to.deep.include({ code: 1, stdout: '' })
    expect(viaFlag.stderr).to.match(/^NOT_FOUND: [^\n]+\n$/)
    const byRole = await stoa([
      'act',
      '--url',
      `${NATS_URL}?prefix=${prefix}`,
      'role:math,cmd:sum',
      'left=1',
      'right=1',
    ])
    expect(byRole).to.deep.include({ code: 0, stdout: '{"answer":2}\n' })
    const echo = await stoa(['act', '--url', url, 'role:math,cmd:echo', '--token', 'tok'])
    expect(JSON.parse(echo.stdout)).to.deep.include({ token: 'tok', caller: 'cli' })
    const end = await served.stop()
    expect(end.code).to.equal(0)
    expect(end.stderr).to.contain('math closing on SIGTERM')
    const gone = await stoa(['act', '--url', url, 'role:math,cmd:sum', 'left=1', 'right=1'])
    expect(gone).to.deep.include({ code: 1, stdout: '' })
    expect(gone.stderr).to.match(/^UNAVAILABLE: /)
  })

  it("delivers the service's own events through JetStream", async () => {
    served = await serve([SERVICE, '--nats', `${NATS_URL}?prefix=${prefix}`], 1)
    const url = `${NATS_URL}?prefix=${prefix}&service=math`
    expect((await stoa(['act', '--url', url, 'role:math,cmd:bump'])).code).to.equal(0)
    let total = 0
    const until = Date.now() + 10_000
    while (total === 0 && Date.now() < until)
      total = JSON.parse((await stoa(['act', '--url', url, 'role:math,cmd:total'])).stdout).total
    expect(total).to.equal(1)
    expect((await served.stop()).code).to.equal(0)
  })
})
