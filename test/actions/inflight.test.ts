import { expect } from 'chai'
import type { Linked } from '../../actions/inflight.js'
import { InFlight } from '../../actions/inflight.js'

interface Call extends Linked<Call> {
  readonly n: number
}

const call = (n: number): Call => ({ n, prev: undefined, next: undefined, linked: false })
const ns = (list: InFlight<Call>) => [...list].map((c) => c.n)

describe('InFlight', () => {
  it('keeps entries in the order they were added and counts them', () => {
    const list = new InFlight<Call>()
    const [a, b, c] = [call(1), call(2), call(3)]
    list.add(a)
    list.add(b)
    list.add(c)
    expect(list.size).to.equal(3)
    expect(ns(list)).to.deep.equal([1, 2, 3])
  })

  it('removes from the head, the middle and the tail, and only once', () => {
    const list = new InFlight<Call>()
    const calls = [1, 2, 3, 4].map(call)
    for (const c of calls) list.add(c)
    expect(list.delete(calls[1]!)).to.equal(true)
    expect(list.delete(calls[1]!)).to.equal(false)
    expect(list.delete(calls[0]!)).to.equal(true)
    expect(list.delete(calls[3]!)).to.equal(true)
    expect(ns(list)).to.deep.equal([3])
    expect(list.size).to.equal(1)
    expect(list.delete(calls[2]!)).to.equal(true)
    expect(ns(list)).to.deep.equal([])
    expect(list.size).to.equal(0)
    // An emptied list takes new entries as a fresh one does.
    list.add(calls[1]!)
    expect(ns(list)).to.deep.equal([2])
  })

  it('lets a walk remove the entry it is on, as the deadline sweep does', () => {
    const list = new InFlight<Call>()
    const calls = [1, 2, 3, 4, 5].map(call)
    for (const c of calls) list.add(c)
    const seen: number[] = []
    for (const c of list) {
      seen.push(c.n)
      if (c.n % 2 === 1) list.delete(c)
    }
    expect(seen).to.deep.equal([1, 2, 3, 4, 5])
    expect(ns(list)).to.deep.equal([2, 4])
    expect(list.size).to.equal(2)
  })

  it('clears every entry, which can then be added again', () => {
    const list = new InFlight<Call>()
    const calls = [1, 2, 3].map(call)
    for (const c of calls) list.add(c)
    list.clear()
    expect(list.size).to.equal(0)
    expect(calls.every((c) => !c.linked && c.prev === undefined && c.next === undefined)).to.equal(true)
    list.add(calls[2]!)
    expect(ns(list)).to.deep.equal([3])
  })
})
