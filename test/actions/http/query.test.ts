import { parse } from 'node:querystring'
import { expect } from 'chai'
import fc from 'fast-check'
import { parseQueryString } from '../../../actions/http/pipeline.js'

/** The pairs in order, so that key order and arrays are compared too. */
const pairs = (o: Record<string, unknown>) => Object.keys(o).map((k) => [k, o[k]])

describe('web pipeline: the query string', () => {
  it('is parsed exactly as node querystring (and so express) parses it, odd input included', () => {
    const part = fc.constantFrom(
      'a',
      'b',
      '=',
      '&',
      '+',
      '%',
      '%4',
      '%41',
      '%E0%A4%A',
      '%C3%A9',
      'é',
      '__proto__',
      '[',
      ' ',
    )
    fc.assert(
      fc.property(fc.array(part, { maxLength: 14 }), (parts) => {
        const search = parts.join('')
        expect(pairs(parseQueryString(search)), search).to.deep.equal(pairs(parse(search) as Record<string, unknown>))
      }),
      { numRuns: 3000 },
    )
    const many = 'k=v&'.repeat(1500)
    expect(pairs(parseQueryString(many))).to.deep.equal(pairs(parse(many) as Record<string, unknown>))
  })

  it('gives a plain object whose __proto__ key is a plain own property', () => {
    const q = parseQueryString('__proto__=x&a=1&a=2')
    expect(Object.getPrototypeOf(q)).to.equal(Object.prototype)
    expect(Object.hasOwn(q, '__proto__')).to.equal(true)
    expect(q.a).to.deep.equal(['1', '2'])
    expect(({} as Record<string, unknown>).x).to.equal(undefined)
  })
})
