import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import health from '../../../plugins/health/index.js'
import type { Harness } from '../../../plugins/testing/index.js'
import { createHarness } from '../../../plugins/testing/index.js'

/*
 * A readiness check that hangs is cut off after 2 s of the instance's clock: under the virtual
 * clock of stoa/testing, when the test moves time past it, not when 2 s of the machine's pass.
 */
describe('health plugin on the virtual clock: a hung check times out when the test moves time', () => {
  let h: Harness

  afterEach(() => h?.close())

  it('answers not ready, naming the check, once the clock passes the check timeout', async () => {
    h = createHarness()
    await h.start((o) => {
      const stoa = createStoa({ name: 'tally', ...o }).use(health, {})
      // A database probe that never answers.
      stoa.addCheck('db', () => new Promise<void>(() => undefined))
      return stoa
    })
    let answer: unknown
    void h.act('role:health,cmd:ready').then(
      (out) => (answer = out),
      (err: unknown) => (answer = err),
    )
    // The request reaches the check; no time passes.
    await h.settle(0)
    await h.advance('1999ms')
    expect(answer, 'before the check timeout').to.equal(undefined)
    await h.advance('1ms')
    await h.settle(0)
    // Answered now, with no more time gone by on either clock.
    expect(answer).to.be.instanceOf(StoaError)
    const err = answer as StoaError
    expect(err.code).to.equal('UNAVAILABLE')
    expect(err.details?.checks).to.deep.include({ name: 'db', ready: false, reason: 'no answer within 2000 ms' })
  })
})
