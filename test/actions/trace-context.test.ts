import { expect } from 'chai'
import { checkTracestate, formatTraceparent, isTraceId, parseTraceparent } from '../../actions/trace-context.js'

describe('W3C trace context', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

  it('parses a version-00 traceparent and formats it back', () => {
    const parsed = parseTraceparent(tp)
    expect(parsed).to.deep.equal({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 })
    expect(formatTraceparent(parsed!)).to.equal(tp)
  })

  it('ignores invalid values: zero ids, upper case, version ff, extra fields on 00, wrong lengths', () => {
    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      `${tp}-extra`,
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
      42,
      undefined,
    ]) {
      expect(parseTraceparent(bad), String(bad)).to.equal(undefined)
    }
  })

  it('accepts a later version with more fields, reading the first four', () => {
    expect(parseTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future`)?.spanId).to.equal(
      '00f067aa0ba902b7',
    )
  })

  it('keeps a printable, bounded tracestate and drops others', () => {
    expect(checkTracestate('vendor=abc,other=1')).to.equal('vendor=abc,other=1')
    expect(checkTracestate('a'.repeat(513))).to.equal(undefined)
    expect(checkTracestate('bad\nvalue')).to.equal(undefined)
  })

  it('knows a trace id', () => {
    expect(isTraceId('4bf92f3577b34da6a3ce929d0e0e4736')).to.equal(true)
    expect(isTraceId('a2c1d1e0-6b3e-4b07-9c43-0b2b1d1a0a0a')).to.equal(false)
  })
})
