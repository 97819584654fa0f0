import { expect } from 'chai'
import fc from 'fast-check'
import { LAMBDA_LIMITS, quickHandlerOptions } from '../../../transports/lambda/defaults.js'
import { lambdaHandlerOptions } from '../../../transports/lambda/options.js'

function full(input: unknown): unknown {
  const r = lambdaHandlerOptions.safeParse(input)
  return r.success ? r.data : 'invalid'
}

describe('transports/lambda/defaults: lambdaHandler options checked without the schema', () => {
  it('gives the schema’s output for the usual options, and leaves it the rest', () => {
    for (const input of [
      {},
      { marginMs: 0, events: { 'Scheduled Event': 'export.scheduled' } },
      { maxResponseBytes: 1 },
    ])
      expect(quickHandlerOptions(input)).to.deep.equal(full(input))
    for (const input of [
      null,
      { margin: 5 },
      { marginMs: -1 },
      { marginMs: 1.5 },
      { maxResponseBytes: LAMBDA_LIMITS.syncBytes + 1 },
      { events: { a: 1 } },
      { events: [] },
      { marginMs: undefined },
    ])
      expect(quickHandlerOptions(input), JSON.stringify(input)).to.equal(undefined)
  })

  it('agrees with the schema on generated options', () => {
    const options = fc.record(
      {
        marginMs: fc.oneof(fc.integer({ min: -2, max: 5000 }), fc.double()),
        events: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
        maxResponseBytes: fc.integer({ min: -1, max: LAMBDA_LIMITS.syncBytes + 2 }),
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(options, (input) => {
        const quick = quickHandlerOptions(input)
        if (quick !== undefined) expect(quick).to.deep.equal(full(input))
      }),
      { numRuns: 500 },
    )
  })
})
