import { expect } from 'chai'
import fc from 'fast-check'
import type { ResponseHeaders } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import { VirtualClock } from '../../../plugins/testing/index.js'
import { quietLogger } from '../../helpers/wait.js'

/**
 * The token bucket as the issue states it, in exact arithmetic on a virtual clock: `burst`
 * tokens at most, `points` more every `durationSec`, one per call.
 */
class ReferenceBucket {
  private tokens: number
  private at: number
  constructor(
    private readonly burst: number,
    private readonly msPerToken: number,
    now: number,
  ) {
    this.tokens = burst
    this.at = now
  }

  take(now: number): { ok: boolean; tokens: number } {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) / this.msPerToken)
    this.at = now
    // Whole gaps only reach a boundary exactly, never within a µs of one: the slack decides nothing else.
    if (this.tokens < 1 - 1e-9) return { ok: false, tokens: this.tokens }
    this.tokens -= 1
    return { ok: true, tokens: this.tokens }
  }
}

/** The answer headers a web route would gather. */
function gathered(): ResponseHeaders & { fields: Record<string, string> } {
  const fields: Record<string, string> = {}
  return { fields, append: (name, value) => void (fields[name] = value) }
}

describe('ratelimit plugin: token buckets on the instance clock', () => {
  it('lets a burst of its size through at once, then refuses, and is whole again after a quiet spell', async () => {
    const clock = new VirtualClock()
    const stoa = createStoa({ name: 'vote', clock, logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 1, durationSec: 10, burst: 5 } } })
      .add('role:vote,cmd:cast', () => 'ok')
    await stoa.ready()
    const cast = () =>
      stoa.act('role:vote,cmd:cast', {}, { token: 'ada' }).then(
        () => 'ok',
        (e: StoaError) => e.code,
      )
    const burst = async () => Promise.all(Array.from({ length: 6 }, cast))
    expect(await burst()).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'ok', 'RATE_LIMITED'])
    // One token every 10 s, not the whole budget at the next window.
    await clock.advance('10s')
    expect([await cast(), await cast()]).to.deep.equal(['ok', 'RATE_LIMITED'])
    await clock.advance('50s')
    expect(await burst()).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'ok', 'RATE_LIMITED'])
    await stoa.close()
  })

  it('decides every call as the reference token bucket does, with its wait and its fields', async function () {
    this.timeout(30_000)
    const shapes = fc.record({
      points: fc.integer({ min: 1, max: 20 }),
      durationSec: fc.integer({ min: 1, max: 120 }),
      burst: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
    })
    await fc.assert(
      fc.asyncProperty(shapes, fc.array(fc.nat(), { minLength: 1, maxLength: 80 }), async (limit, draws) => {
        const clock = new VirtualClock()
        const stoa = createStoa({ name: 'vote', clock, logger: quietLogger() })
          .use(ratelimit, { limits: { 'role:vote,cmd:cast': limit } })
          .add('role:vote,cmd:cast', () => 'ok')
        await stoa.ready()
        const burst = limit.burst ?? limit.points
        const msPerToken = (limit.durationSec * 1000) / limit.points
        const reference = new ReferenceBucket(burst, msPerToken, clock.now())
        const passed: number[] = []
        try {
          for (const draw of draws) {
            // Gaps from none (a burst) to two tokens' time, in whole ms.
            const gap = draw % Math.ceil(2 * msPerToken + 1)
            if (gap > 0) await clock.advance(gap)
            const expected = reference.take(clock.now())
            const headers = gathered()
            const got = await stoa.act('role:vote,cmd:cast', {}, { token: 'ada', responseHeaders: headers }).then(
              () => undefined,
              (e: StoaError) => e,
            )
            expect(got === undefined, `call at +${clock.now() - Date.UTC(2030, 0, 1)} ms`).to.equal(expected.ok)
            const fullSec = Math.ceil(((burst - expected.tokens) * msPerToken - 1e-6) / 1000)
            if (got === undefined) {
              passed.push(clock.now())
              const m = /;r=(\d+);t=(\d+)$/.exec(headers.fields.ratelimit ?? '')
              expect(Number(m?.[1]), 'whole tokens left').to.equal(Math.floor(expected.tokens + 1e-9))
              expect(Number(m?.[2]), 'seconds until full').to.be.within(fullSec - 1, fullSec)
            } else {
              expect(got).to.be.instanceOf(StoaError)
              expect(got.code).to.equal('RATE_LIMITED')
              const waitMs = (1 - expected.tokens) * msPerToken
              expect(got.details!.retryAfterMs).to.be.within(Math.max(1, Math.floor(waitMs)), Math.ceil(waitMs) + 1)
            }
          }
        } finally {
          await stoa.close()
        }
        // However the calls come, no stretch of time lets more through than a full bucket and
        // what refills in it: the sustained rate is the refill rate.
        for (let i = 0; i < passed.length; i++)
          for (let j = i; j < passed.length; j++)
            expect(j - i + 1).to.be.at.most(burst + Math.floor((passed[j]! - passed[i]!) / msPerToken + 1e-6))
      }),
      { numRuns: 100 },
    )
  })
})
