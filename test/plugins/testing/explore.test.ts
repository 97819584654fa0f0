import { expect } from 'chai'
import fc from 'fast-check'
import { createStoa } from '../../../actions/index.js'
import { ExploreFailure, explore } from '../../../plugins/testing/index.js'

describe('stoa/testing: explore', function () {
  this.timeout(60_000)

  it("reaches a wrapped effect's crash point from its schedule, as an outbox relay's would be", async () => {
    // A relay that commits, then publishes; a redelivery of a committed order returns early,
    // which loses the publish when the instance died between the two.
    let commits: string[] = []
    const failure = await explore({
      input: fc.constantFrom('o1', 'o2'),
      faults: ['crash'],
      interleave: false,
      runs: 50,
      seed: 7,
      run: async (h, id) => {
        commits = []
        await h.start((o) =>
          createStoa({ name: 'relay', ...o }).add('task:relay.order.publish', async (msg, ctx) => {
            if (commits.includes(String(msg.id))) return
            await o.effect('relay.commit', async () => commits.push(String(msg.id)))
            await ctx.emit('order.published', { id: msg.id })
          }),
        )
        await h.send('relay.order.publish', { id })
      },
      check: (h, id) => {
        expect(commits).to.deep.equal([id])
        expect(h.emitted('order.published').map((e) => e.data.id)).to.deep.equal([id])
      },
    }).catch((err: unknown) => err)
    expect(failure).to.be.instanceOf(ExploreFailure)
    const f = failure as ExploreFailure
    // Point 1 is the publish, 2 the delivery, 3 the effect: a crash before the ack (at 2) is
    // harmless here, the one after the commit is not.
    expect(f.schedule).to.deep.equal(['none', 'none', 'crash'])
    expect(f.trace).to.match(/relay crashes after the effect relay\.commit/)
  })

  it('passes when the invariant holds on every run', async () => {
    let runs = 0
    await explore({
      runs: 20,
      faults: ['drop', 'duplicate', 'delay', 'reorder', 'crash'],
      run: async (h) => {
        runs++
        await h.start((o) => createStoa({ name: 'echo', ...o }).add('task:echo.item.make', () => undefined))
        await h.send('echo.item.make', {})
      },
      check: (h) => {
        expect(h.deadLetters).to.deep.equal([])
      },
    })
    expect(runs).to.equal(20)
  })
})
