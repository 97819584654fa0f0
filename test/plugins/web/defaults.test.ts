import { expect } from 'chai'
import fc from 'fast-check'
import { quickWebOptions } from '../../../plugins/web/defaults.js'
import { webOptions } from '../../../plugins/web/options.js'

/** What the options schema makes of `input`: its output, or `invalid`. */
function full(input: unknown): unknown {
  const r = webOptions.safeParse(input)
  return r.success ? r.data : 'invalid'
}

describe('plugins/web/defaults: the usual options checked without the schema', () => {
  it('gives the schema’s output, defaults filled, for compact routes and the scalar limits', () => {
    for (const input of [
      {},
      {
        routes: { 'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 }, 'GET /sum': 'role:math,cmd:sum' },
      },
      { routes: { 'GET /a': { pattern: 'role:a' } }, prefix: '/api', maxBodyBytes: 10, timeoutMs: 50 },
      { headers: ['X-Request-Id', 'user-agent'], message: 'seneca-web' },
    ]) {
      const quick = quickWebOptions(input)
      expect(quick, JSON.stringify(input)).not.to.equal(undefined)
      expect(quick).to.deep.equal(full(input))
    }
  })

  it('leaves to the schema every input it cannot vouch for, valid or not', () => {
    for (const input of [
      null,
      [],
      'routes',
      { routes: { pin: 'role:vote,cmd:*', map: { cast: { POST: true } } } },
      { routes: [{ 'GET /a': 'role:a' }] },
      { routes: { 'GET /a': { pattern: 'role:a', status: 404 } } },
      { routes: { 'GET /a': { pattern: 'role:a', status: 202.5 } } },
      { routes: { 'GET /a': { pattern: 'role:a', extra: 1 } } },
      { routes: { 'GET /a': 5 } },
      { maxBodyBytes: 0 },
      { maxBodyBytes: Number.POSITIVE_INFINITY },
      { timeoutMs: -1 },
      { message: 'nested' },
      { headers: 'user-agent' },
      { prefix: 5 },
      { prefix: undefined },
      { streams: { '/live': 'vote.recorded' } },
      { cors: { origins: ['*'] } },
      { cookie: {} },
      { maxBodyByte: 5 },
    ]) {
      expect(quickWebOptions(input), JSON.stringify(input)).to.equal(undefined)
    }
  })

  it('agrees with the schema on generated options', () => {
    const status = fc.oneof(fc.integer({ min: 150, max: 350 }), fc.double(), fc.constant(undefined))
    const route = fc.oneof(
      fc.string(),
      fc.record({ pattern: fc.string() }),
      fc.record({ pattern: fc.string(), status }),
      fc.integer(),
    )
    const options = fc.record(
      {
        routes: fc.dictionary(fc.string(), route),
        prefix: fc.oneof(fc.string(), fc.integer()),
        maxBodyBytes: fc.oneof(fc.integer({ min: -2, max: 1e9 }), fc.double()),
        timeoutMs: fc.oneof(fc.integer({ min: -2, max: 1e6 }), fc.constant(undefined)),
        headers: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
        message: fc.constantFrom('flat', 'seneca-web', 'other'),
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(options, (input) => {
        const quick = quickWebOptions(input)
        if (quick !== undefined) expect(quick).to.deep.equal(full(input))
      }),
      { numRuns: 500 },
    )
  })
})
