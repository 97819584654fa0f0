import { expect } from 'chai'
import { toPattern } from '../../actions/index.js'
import { Router } from '../../actions/router.js'

function router(...patterns: string[]) {
  const r = new Router<string>()
  for (const p of patterns) r.add(toPattern(p), p)
  return r
}
const find = (r: Router<string>, msg: Record<string, unknown>) => r.find(msg)?.data

describe('actions/router', () => {
  it('picks the pattern with the most pairs the message contains', () => {
    const r = router('a:1', 'a:1,b:1', 'a:1,b:2')
    expect(find(r, { a: 1 })).to.equal('a:1')
    expect(find(r, { a: 1, b: 1 })).to.equal('a:1,b:1')
    expect(find(r, { a: 1, b: 2, z: 9 })).to.equal('a:1,b:2')
    expect(find(r, { a: 2 })).to.equal(undefined)
    expect(find(r, { b: 1 })).to.equal(undefined)
  })

  it('breaks ties between equally specific patterns by key order, whatever the order of adding', () => {
    for (const order of [
      ['a:1', 'b:1'],
      ['b:1', 'a:1'],
    ]) {
      expect(find(router(...order), { a: 1, b: 1 })).to.equal('a:1')
    }
    for (const order of [
      ['a:1,c:1', 'b:1,c:1'],
      ['b:1,c:1', 'a:1,c:1'],
    ]) {
      expect(find(router(...order), { a: 1, b: 1, c: 1 })).to.equal('a:1,c:1')
    }
  })

  it('prefers more pairs over earlier keys', () => {
    expect(find(router('a:1', 'b:1,c:1'), { a: 1, b: 1, c: 1 })).to.equal('b:1,c:1')
  })

  it('compares values as strings, as Seneca does', () => {
    const r = router('n:1,flag:true')
    expect(find(r, { n: '1', flag: 'true' })).to.equal('n:1,flag:true')
    expect(find(r, { n: 1, flag: true })).to.equal('n:1,flag:true')
  })

  it('matches glob values after exact ones, more exact values first', () => {
    const r = router('role:math,cmd:*', 'role:math,cmd:sum', 'role:*,cmd:*', 'role:math,cmd:s?m')
    expect(find(r, { role: 'math', cmd: 'sum' })).to.equal('role:math,cmd:sum')
    expect(find(r, { role: 'math', cmd: 'sam' })).to.equal('role:math,cmd:s?m')
    expect(find(r, { role: 'math', cmd: 'div' })).to.equal('role:math,cmd:*')
    expect(find(r, { role: 'text', cmd: 'div' })).to.equal('role:*,cmd:*')
  })

  it('never matches object or missing values', () => {
    const r = router('a:*')
    expect(find(r, { a: { toString: () => 'x' } })).to.equal(undefined)
    expect(find(r, {})).to.equal(undefined)
  })

  it('replaces data under an identical pattern and returns what it replaced', () => {
    const r = new Router<string>()
    r.add(toPattern('a:1,b:2'), 'first')
    const { previous } = r.add(toPattern({ b: 2, a: 1 }), 'second')
    expect(previous).to.equal('first')
    expect(r.size).to.equal(1)
    expect(find(r, { a: 1, b: 2 })).to.equal('second')
  })

  it('removes patterns and lists by partial pattern', () => {
    const r = router('role:math,cmd:sum', 'role:math,cmd:product', 'role:text,cmd:upper', 'role:math,cmd:*')
    expect(r.list({ role: 'math' }).map((x) => x.data)).to.deep.equal([
      'role:math,cmd:*',
      'role:math,cmd:product',
      'role:math,cmd:sum',
    ])
    expect(r.list({ cmd: 'p*' }).map((x) => x.data)).to.deep.equal(['role:math,cmd:product'])
    expect(r.remove(toPattern('role:math,cmd:*'))).to.equal(true)
    expect(find(r, { role: 'math', cmd: 'div' })).to.equal(undefined)
    expect(r.remove(toPattern('role:none'))).to.equal(false)
    expect(r.list().length).to.equal(3)
  })
})
