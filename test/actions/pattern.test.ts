import { expect } from 'chai'
import { StoaError } from '../../actions/errors.js'
import { mergeMessages, parsePattern, patternString, toMessage, toPattern } from '../../actions/pattern.js'

describe('actions/pattern', () => {
  it('reads pairs with typed values as jsonic does', () => {
    expect({ ...parsePattern('role:math,cmd:sum,left:1,right:-2.5,ok:true,no:false,nil:null') }).to.deep.equal({
      role: 'math',
      cmd: 'sum',
      left: 1,
      right: -2.5,
      ok: true,
      no: false,
      nil: null,
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
      expect(() => parsePattern(bad))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_PATTERN')
    })
  }

  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`refuses the key ${key} in a pattern string and object without touching any prototype`, () => {
      expect(() => parsePattern(`${key}:x`))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_PATTERN')
      expect(() => toPattern(JSON.parse(`{"${key}":"x","a":1}`)))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_PATTERN')
      expect(({} as Record<string, unknown>).x).to.equal(undefined)
    })
  }

  it('refuses non-scalar pattern values', () => {
    expect(() => toPattern({ a: { b: 1 } }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PATTERN')
    expect(() => toPattern({}))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PATTERN')
  })

  it('writes a canonical string that reads back to a pattern with the same values as text', () => {
    const p = toPattern({ role: 'math', cmd: 'sum', n: 1, flag: true, text: 'a,b', num: '12', t: 'true', f: '1.0' })
    const s = patternString(p)
    expect(s).to.equal("cmd:sum,f:'1.0',flag:true,n:1,num:12,role:math,t:true,text:'a,b'")
    const back = parsePattern(s)
    expect(Object.fromEntries(Object.entries(back).map(([k, v]) => [k, String(v)]))).to.deep.equal(
      Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)])),
    )
  })

  it('quotes keys and values that hold separators or quotes, so no two patterns share a string', () => {
    const one = patternString(toPattern({ a: 'x', '"': 'x' }))
    const two = patternString(toPattern({ '":x,a': 'x' }))
    expect(one).to.equal(`'"':x,a:x`)
    expect(two).to.equal(`'":x,a':x`)
    expect({ ...parsePattern(two) }).to.deep.equal({ '":x,a': 'x' })
    expect({ ...parsePattern(patternString(toPattern({ "it's": "a\\'b", ' ': '' }))) }).to.deep.equal({
      "it's": "a\\'b",
      ' ': '',
    })
  })

  it('writes values as text, so 1 and "1", true and "true" are one pattern and "null" stays a string', () => {
    expect(patternString(toPattern({ n: 1 }))).to.equal(patternString(toPattern({ n: '1' })))
    expect(patternString(toPattern({ a: true }))).to.equal(patternString(toPattern({ a: 'true' })))
    expect(patternString(toPattern({ a: 'null' }))).to.equal("a:'null'")
    expect(patternString(toPattern({ n: '-0' }))).to.not.equal(patternString(toPattern({ n: 0 })))
  })

  it('lets the pattern string win over the extra data in a message', () => {
    expect(toMessage('role:math,cmd:sum', { cmd: 'drop', left: 1 })).to.deep.equal({
      role: 'math',
      cmd: 'sum',
      left: 1,
    })
  })

  it('merges parts in order, later keys winning, into a new plain object', () => {
    const a = { left: 1, cmd: 'a' }
    const out = mergeMessages(a, undefined, { cmd: 'b' }, { right: 2 })
    expect(out).to.deep.equal({ left: 1, cmd: 'b', right: 2 })
    expect(Object.keys(out)).to.deep.equal(['left', 'cmd', 'right'])
    expect(Object.getPrototypeOf(out)).to.equal(Object.prototype)
    expect(out).to.not.equal(a)
    expect(a).to.deep.equal({ left: 1, cmd: 'a' })
  })

  it('keeps a __proto__ key from any part, or from the extra data of a pattern string, as plain data', () => {
    const evil = JSON.parse('{"__proto__":{"admin":true},"a":1}') as Record<string, unknown>
    for (const out of [mergeMessages(evil, { b: 2 }), mergeMessages({ b: 2 }, evil), toMessage('role:x', evil)]) {
      expect(Object.getPrototypeOf(out)).to.equal(Object.prototype)
      expect((out as Record<string, unknown>).admin).to.equal(undefined)
      expect(Object.hasOwn(out, '__proto__')).to.equal(true)
      expect(out.a).to.equal(1)
    }
    expect(({} as Record<string, unknown>).admin).to.equal(undefined)
  })

  it('copies a message with a __proto__ key as plain data', () => {
    const msg = toMessage(JSON.parse('{"role":"x","__proto__":{"polluted":true}}') as Record<string, unknown>)
    expect(Object.getPrototypeOf(msg)).to.equal(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
    expect((msg as Record<string, unknown>).polluted).to.equal(undefined)
  })
})
