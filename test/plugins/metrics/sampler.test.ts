import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import metrics from '../../../plugins/metrics/index.js'
import { MAX_STRIDE, Sampler } from '../../../plugins/metrics/sampler.js'
import { quietLogger } from '../../helpers/wait.js'

/** How many of `calls` calls, `gapMs` apart on a clock of the test's own, in one turn, are timed. */
function timedOf(calls: number, gapMs: number): number {
  const sampler = new Sampler()
  let timed = 0
  for (let i = 0; i < calls; i++) {
    if (!sampler.timeThis()) continue
    timed++
    sampler.started(i * gapMs)
  }
  return timed
}

const nextTurn = () => new Promise((r) => setImmediate(r))

describe('metrics: which calls are timed', () => {
  it('times about one call in MAX_STRIDE of a busy action within one turn, and every call of a slow one', () => {
    const busy = timedOf(10_000, 0.0001)
    expect(busy).to.be.within(10_000 / MAX_STRIDE / 2, (10_000 / MAX_STRIDE) * 2)
    expect(timedOf(1000, 1)).to.equal(1000)
  })

  it('times the first call of every turn, however busy the last turn was', async () => {
    const sampler = new Sampler()
    for (let i = 0; i < 1000; i++) if (sampler.timeThis()) sampler.started(i * 0.0001)
    for (let turn = 0; turn < 5; turn++) {
      await nextTurn()
      expect(sampler.timeThis()).to.equal(true)
      sampler.started(10 + turn)
    }
  })

  it('counts every call exactly, and a slow call after a busy turn is timed as slow', async () => {
    const s = createStoa({ name: 'm', logger: quietLogger() }).use(metrics, { processMetrics: false })
    let slow = false
    s.add('role:m', async () => {
      if (slow) await new Promise((r) => setTimeout(r, 30))
      return 1
    })
    for (let i = 0; i < 5000; i++) await s.act('role:m')
    slow = true
    await nextTurn()
    await s.act('role:m')
    const text = ((await s.act('role:metrics,cmd:scrape')) as { text: string }).text
    const value = (name: string, le?: string) => {
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith(`${name}{`) &&
            l.includes('pattern="role:m"') &&
            (le === undefined || l.includes(`le="${le}"`)),
        )
      return Number(line?.split(' ').at(-1))
    }
    expect(value('stoa_calls_total')).to.equal(5001)
    expect(value('stoa_call_duration_seconds_count')).to.equal(5001)
    // The slow call is in no bucket below 25 ms: 5000 fast calls at most sit there.
    expect(value('stoa_call_duration_seconds_bucket', '0.025')).to.be.at.most(5000)
    expect(value('stoa_call_duration_seconds_sum')).to.be.at.least(0.03)
    await s.close()
  })
})
