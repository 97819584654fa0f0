import { expect } from 'chai'
import { StoaError, parsePattern, patternString, toMessage, toPattern } from '../../actions/index.js'

describe('actions/pattern', () => {
  it('reads pairs with typed values as jsonic does', () => {
    expect({ ...parsePattern('role:math,cmd:sum,left:1,right:-2.5,ok:true,no:false,nil:null') }).to.deep.equal({
      role: 'math', cmd: 'sum', left: 1, right: -2.5, ok: true, no: false, nil: null,
    })
  })

  it('reads quoted strings as strings, keeping separators inside them', () => {
    expect({ ...parsePattern(`a:'1',b:"x, y: z",c:'it\\'s'`) }).to.deep.equal({ a: '1', b: 'x, y: z', c: "it's" })
  })

  it('accepts spaces around and between pairs', () => {
    expect({ ...parsePattern(' role : math , cmd:sum  x:1 ') }).to.deep.equal({ role: 'math', cmd: 'sum', x: 1 })
  })

  it('keeps glob values as strings', () => {
    expect({ ...parsePattern('role:math,cmd:*') }).to.deep.equal({ role: 'math', cmd: '*' })
  })

  for (const bad of ['', 'role', 'role:', ':math', 'role:math,', 'a:1,a:2', "a:'open", 'a:{b:1}', 'a b:1', 'a:1;b:2']) {
    it(`refuses the malformed pattern ${JSON.stringify(bad)} with INVALID_PATTERN`, () => {
      expect(() => parsePattern(bad)).to.throw(StoaError).with.property('code', 'INVALID_PATTERN')
    })
  }

  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`refuses the key ${key} in a pattern string and object without touching any prototype`, () => {
      expect(() => parsePattern(`${key}:x`)).to.throw(StoaError).with.property('code', 'INVALID_PATTERN')
      expect(() => toPattern(JSON.parse(`{"${key}":"x","a":1}`))).to.throw(StoaError).with.property('code', 'INVALID_PATTERN')
      expect(({} as Record<string, unknown>).x).to.equal(undefined)
    })
  }

  it('refuses non-scalar pattern values', () => {
    expect(() => toPattern({ a: { b: 1 } })).to.throw(StoaError).with.property('code', 'INVALID_PATTERN')
    expect(() => toPattern({})).to.throw(StoaError).with.property('code', 'INVALID_PATTERN')
  })

  it('writes a canonical string that reads back to the same pattern', () => {
    const p = toPattern({ role: 'math', cmd: 'sum', n: 1, flag: true, text: 'a,b', num: '12', t: 'true' })
    const s = patternString(p)
    expect(s).to.equal("cmd:sum,flag:true,n:1,num:'12',role:math,t:'true',text:'a,b'")
    expect({ ...parsePattern(s) }).to.deep.equal({ ...p })
  })

  it('lets the pattern string win over the extra data in a message', () => {
    expect(toMessage('role:math,cmd:sum', { cmd: 'drop', left: 1 })).to.deep.equal({ role: 'math', cmd: 'sum', left: 1 })
  })

  it('copies a message with a __proto__ key as plain data', () => {
    const msg = toMessage(JSON.parse('{"role":"x","__proto__":{"polluted":true}}') as Record<string, unknown>)
    expect(Object.getPrototypeOf(msg)).to.equal(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
    expect((msg as Record<string, unknown>).polluted).to.equal(undefined)
  })
})
