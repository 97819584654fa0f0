import { expect } from 'chai'
import { Sweeper, settleWithin } from '../../actions/transport.js'
import { VirtualClock } from '../../plugins/testing/index.js'

/*
 * The transport kit's timers run on the clock they are given (a transport passes its host's):
 * under the virtual clock of stoa/testing they fire when the test moves time, at its time.
 */
describe('transport kit on the virtual clock', () => {
  it('sweeps every everyMs of the given clock, with its time, until nothing is watched', async () => {
    const clock = new VirtualClock()
    const start = clock.now()
    const seen: number[] = []
    const sweeper = new Sweeper(500, (now) => seen.push(now - start) < 3, clock)
    sweeper.arm()
    sweeper.arm()
    await clock.advance('499ms')
    expect(seen, 'before the first sweep').to.deep.equal([])
    await clock.advance('10s')
    // The third sweep said nothing is left: no fourth.
    expect(seen).to.deep.equal([500, 1000, 1500])
    expect(clock.pending).to.equal(0)
    sweeper.arm()
    await clock.advance('500ms')
    expect(seen).to.have.length(4)
    sweeper.stop()
    await clock.advance('10s')
    expect(seen).to.have.length(4)
  })

  it("gives work up after graceMs of the given clock, not of the machine's", async () => {
    const clock = new VirtualClock()
    let settled: boolean | undefined
    void settleWithin(new Promise(() => undefined), 30_000, clock).then((ok) => (settled = ok))
    await clock.advance('29s')
    expect(settled).to.equal(undefined)
    await clock.advance('1s')
    expect(settled).to.equal(false)
    expect(await settleWithin(Promise.resolve(), 30_000, clock)).to.equal(true)
    expect(clock.pending).to.equal(0)
  })
})
