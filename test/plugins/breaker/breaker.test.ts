import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import breaker from '../../../plugins/breaker/index.js'
import { createHarness, expectCode } from '../../../plugins/testing/index.js'

describe('breaker plugin on the virtual clock (stoa/testing)', function () {
  this.timeout(20_000)

  it('opens after repeated UNAVAILABLE and half-opens when the clock has moved halfOpenAfterMs', async () => {
    const h = createHarness()
    let down = true
    let served = 0
    await h.stub('tally', {
      'role:tally,cmd:count': () => {
        if (down) throw new StoaError('UNAVAILABLE', 'the tally is down')
        return { count: ++served }
      },
    })
    const gateway = await h.start(
      (o) => createStoa({ name: 'gateway', ...o }).use(breaker, { failures: 3, halfOpenAfterMs: 30_000 }),
      { calls: ['role:tally'] },
    )
    const stoa = gateway.instances()[0]!
    const count = () => stoa.act('role:tally,cmd:count')
    try {
      for (let i = 0; i < 3; i++)
        expect((await expectCode(count(), 'UNAVAILABLE')).details?.breaker, `failure ${i + 1}`).to.equal(undefined)
      const open = await expectCode(count(), 'UNAVAILABLE')
      expect(open.details).to.include({ breaker: 'open', retryAfterMs: 30_000 })

      // The tally is back, but the breaker waits its 30 s of the instance's clock.
      down = false
      await h.advance('29s')
      expect((await expectCode(count(), 'UNAVAILABLE')).details).to.include({ breaker: 'open', retryAfterMs: 1000 })
      await h.advance('1s')
      expect(await count()).to.deep.equal({ count: 1 })
      expect(await count()).to.deep.equal({ count: 2 })
    } finally {
      await h.close()
    }
  })

  it('opens again for another halfOpenAfterMs when its probe fails', async () => {
    const h = createHarness()
    await h.stub('tally', {
      'role:tally,cmd:count': () => {
        throw new StoaError('UNAVAILABLE', 'the tally is down')
      },
    })
    const gateway = await h.start(
      (o) => createStoa({ name: 'gateway', ...o }).use(breaker, { failures: 1, halfOpenAfterMs: 10_000 }),
      { calls: ['role:tally'] },
    )
    const stoa = gateway.instances()[0]!
    const count = () => stoa.act('role:tally,cmd:count')
    try {
      await expectCode(count(), 'UNAVAILABLE')
      expect((await expectCode(count(), 'UNAVAILABLE')).details?.breaker).to.equal('open')
      await h.advance('10s')
      // The probe reaches the tally and fails: open again, for 10 s from now.
      expect((await expectCode(count(), 'UNAVAILABLE')).details?.breaker).to.equal(undefined)
      await h.advance('5s')
      expect((await expectCode(count(), 'UNAVAILABLE')).details).to.include({ breaker: 'open', retryAfterMs: 5000 })
    } finally {
      await h.close()
    }
  })
})
