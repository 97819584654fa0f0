import { expect } from 'chai'
import { buildMessage, parseJsonMessage, parseValue } from '../../bin/message.js'
import { UsageError } from '../../bin/usage.js'

describe('bin/message', () => {
  describe('parseValue', () => {
    it('reads numbers, booleans and null', () => {
      expect(parseValue('12')).to.equal(12)
      expect(parseValue('-0.5')).to.equal(-0.5)
      expect(parseValue('1e3')).to.equal(1000)
      expect(parseValue('true')).to.equal(true)
      expect(parseValue('false')).to.equal(false)
      expect(parseValue('null')).to.equal(null)
    })

    it('keeps as strings what only looks numeric: leading zeros, hex, huge integers', () => {
      expect(parseValue('01234')).to.equal('01234')
      expect(parseValue('0x1f')).to.equal('0x1f')
      expect(parseValue('12345678901234567890')).to.equal('12345678901234567890')
      expect(parseValue('Infinity')).to.equal('Infinity')
      expect(parseValue('')).to.equal('')
    })

    it('parses what starts like JSON', () => {
      expect(parseValue('{"a":[1,2]}')).to.deep.equal({ a: [1, 2] })
      expect(parseValue('[1,"x"]')).to.deep.equal([1, 'x'])
      expect(parseValue('"007"')).to.equal('007')
    })

    it('refuses JSON-looking text that is not JSON, naming the key', () => {
      expect(() => parseValue('{oops', 'opts')).to.throw(UsageError, /"opts".*not valid JSON/)
    })

    it('keeps anything else as text', () => {
      expect(parseValue('hello world')).to.equal('hello world')
      expect(parseValue('a=b')).to.equal('a=b')
    })
  })

  describe('buildMessage', () => {
    it('builds nested objects from dotted keys', () => {
      expect(buildMessage(['left=1', 'opts.round=true', 'opts.unit.name=cm'])).to.deep.equal({
        left: 1,
        opts: { round: true, unit: { name: 'cm' } },
      })
    })

    it('splits on the first "=" only', () => {
      expect(buildMessage(['q=a=b'])).to.deep.equal({ q: 'a=b' })
    })

    it('sets pairs over the base message without changing it', () => {
      const base = { left: 1, opts: { round: false } }
      expect(buildMessage(['opts.round=true', 'right=2'], base)).to.deep.equal({
        left: 1,
        right: 2,
        opts: { round: true },
      })
      expect(base).to.deep.equal({ left: 1, opts: { round: false } })
    })

    it('refuses an argument without "="', () => {
      expect(() => buildMessage(['left'])).to.throw(UsageError, /expected key=value, got "left"/)
    })

    it('refuses empty keys and empty segments', () => {
      expect(() => buildMessage(['=1'])).to.throw(UsageError, /bad key/)
      expect(() => buildMessage(['a..b=1'])).to.throw(UsageError, /bad key/)
    })

    it('refuses prototype keys', () => {
      expect(() => buildMessage(['__proto__.polluted=1'])).to.throw(UsageError, /"__proto__" is not allowed/)
      expect(() => buildMessage(['a.constructor=1'])).to.throw(UsageError, /"constructor" is not allowed/)
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
    })

    it('refuses a key given twice', () => {
      expect(() => buildMessage(['a=1', 'a=2'])).to.throw(UsageError, /"a" is given twice/)
    })

    it('refuses a key that is both a value and an object', () => {
      expect(() => buildMessage(['a=1', 'a.b=2'])).to.throw(UsageError, /"a" has a value/)
      expect(() => buildMessage(['a.b=1', 'a=2'])).to.throw(UsageError, /"a" is an object/)
    })
  })

  describe('parseJsonMessage', () => {
    it('parses a JSON object', () => {
      expect(parseJsonMessage('{"left":1}', 'argument')).to.deep.equal({ left: 1 })
    })

    it('makes a bad --json a usage error', () => {
      expect(() => parseJsonMessage('{', 'argument')).to.throw(UsageError, /--json message is not valid JSON/)
      expect(() => parseJsonMessage('[1]', 'argument')).to.throw(UsageError, /must be a JSON object/)
    })

    it('makes bad JSON on stdin an INVALID_JSON error', () => {
      expect(() => parseJsonMessage('nope', 'stdin'))
        .to.throw()
        .with.property('code', 'INVALID_JSON')
      expect(() => parseJsonMessage('3', 'stdin'))
        .to.throw()
        .with.property('code', 'INVALID_JSON')
    })
  })
})
