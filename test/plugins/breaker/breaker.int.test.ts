import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import breaker from '../../../plugins/breaker/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { quietLogger } from '../../helpers/wait.js'

const HALF_OPEN_MS = 300

async function errorOf(p: Promise<unknown>): Promise<StoaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'the call failed').to.be.instanceOf(StoaError)
  return err as StoaError
}

describe('breaker plugin on an HTTP client', function () {
  this.timeout(20000)
  let port: number
  let server: Stoa<any> | undefined
  let gateway: Stoa<any>
  let served = 0

  /** Starts the target service on `port` (0 the first time). */
  async function startTarget(): Promise<void> {
    const transport = createHttpTransport({ port: port ?? 0 })
    server = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 100 })
      .add('role:tally,cmd:count', () => ({ count: ++served }))
      .add('role:tally,cmd:hang', () => new Promise(() => undefined))
      .listen(transport)
    await server.ready()
    port = Number(new URL(transport.address()!).port)
  }

  async function stopTarget(): Promise<void> {
    await server?.close()
    server = undefined
  }

  before(async () => {
    await startTarget()
    gateway = createStoa({ name: 'gateway', logger: quietLogger() })
      .use(breaker, { failures: 3, halfOpenAfterMs: HALF_OPEN_MS })
      .client(createHttpTransport({ url: `http://127.0.0.1:${port}` }), ['role:tally'])
    await gateway.ready()
  })

  after(async () => {
    await gateway?.close()
    await stopTarget()
  })

  it('opens after repeated UNAVAILABLE, answers UNAVAILABLE at once while open, probes half-open and closes again', async () => {
    expect(await gateway.act('role:tally,cmd:count')).to.deep.equal({ count: 1 })
    await stopTarget()
    // Three real failures: the connection is refused, and the breaker has not opened yet.
    for (let i = 0; i < 3; i++) {
      const err = await errorOf(gateway.act('role:tally,cmd:count'))
      expect(err.code).to.equal('UNAVAILABLE')
      expect(err.details?.breaker, `failure ${i + 1}`).to.equal(undefined)
    }
    // Open: refused by the breaker itself, with how long until it probes.
    const open = await errorOf(gateway.act('role:tally,cmd:count'))
    expect(open.code).to.equal('UNAVAILABLE')
    expect(open.details?.breaker).to.equal('open')
    expect(open.details?.retryAfterMs).to.be.within(0, HALF_OPEN_MS)

    // The target comes back, but the breaker stays open until its half-open delay has run.
    await startTarget()
    expect((await errorOf(gateway.act('role:tally,cmd:count'))).details?.breaker).to.equal('open')
    // After the delay one probe goes through, succeeds, and the breaker closes.
    let answer: unknown
    const until = Date.now() + 5000
    while (answer === undefined && Date.now() < until) {
      answer = await gateway.act('role:tally,cmd:count').catch(() => undefined)
      if (answer === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    expect(answer).to.deep.equal({ count: 2 })
    expect(await gateway.act('role:tally,cmd:count')).to.deep.equal({ count: 3 })
  })

  it('opens again when the half-open probe fails', async () => {
    await stopTarget()
    for (let i = 0; i < 3; i++) await errorOf(gateway.act('role:tally,cmd:count'))
    expect((await errorOf(gateway.act('role:tally,cmd:count'))).details?.breaker).to.equal('open')
    await new Promise((r) => setTimeout(r, HALF_OPEN_MS + 50))
    // The probe: a real attempt, refused by the still-missing target.
    const probe = await errorOf(gateway.act('role:tally,cmd:count'))
    expect(probe.details?.breaker).to.equal(undefined)
    // Open again at once.
    expect((await errorOf(gateway.act('role:tally,cmd:count'))).details?.breaker).to.equal('open')
    await startTarget()
    await new Promise((r) => setTimeout(r, HALF_OPEN_MS + 50))
    expect(await gateway.act('role:tally,cmd:count')).to.have.property('count')
  })

  it('counts TIMEOUT as a failure, and leaves it closed for answers such as NOT_FOUND', async () => {
    for (let i = 0; i < 5; i++)
      expect((await errorOf(gateway.act('role:tally,cmd:missing'))).code).to.equal('NOT_FOUND')
    expect(await gateway.act('role:tally,cmd:count')).to.have.property('count')
    for (let i = 0; i < 3; i++)
      expect((await errorOf(gateway.act('role:tally,cmd:hang', {}, { timeoutMs: 50 }))).code).to.equal('TIMEOUT')
    // The caller hears TIMEOUT at its deadline; the transport's own TIMEOUT reply, which is
    // what the breaker counts, comes at the HTTP client's next sweep (every 100 ms, later on a
    // loaded machine). Calls that time out too are more failures, never a reset: keep making
    // them until the breaker answers for itself.
    let open: StoaError | undefined
    const until = Date.now() + 5000
    while (open === undefined && Date.now() < until) {
      const err = await errorOf(gateway.act('role:tally,cmd:hang', {}, { timeoutMs: 50 }))
      if (err.details?.breaker === 'open') open = err
      else expect(err.code).to.equal('TIMEOUT')
    }
    expect(open?.code).to.equal('UNAVAILABLE')
    expect((await errorOf(gateway.act('role:tally,cmd:count'))).details?.breaker).to.equal('open')
    await new Promise((r) => setTimeout(r, HALF_OPEN_MS + 50))
    expect(await gateway.act('role:tally,cmd:count')).to.have.property('count')
  })
})
