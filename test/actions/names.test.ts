import { expect } from 'chai'
import { StoaError } from '../../actions/errors.js'
import {
  assertEventName,
  assertEventSubscription,
  assertTaskName,
  matchesSubscription,
  taskService,
} from '../../actions/names.js'

describe('actions/names', () => {
  for (const ok of ['user.authed', 'mover.created', 'address.reconciled', 'vote.sent', 'order-line.paid']) {
    it(`accepts the event name ${ok}`, () => expect(() => assertEventName(ok)).not.to.throw())
  }
  for (const bad of [
    'user.create',
    'user',
    'user.created.now',
    'User.created',
    'user.',
    '.created',
    'user.cre ated',
    42,
  ]) {
    it(`refuses the event name ${String(bad)} with INVALID_NAME`, () =>
      expect(() => assertEventName(bad))
        .to.throw()
        .with.property('code', 'INVALID_NAME'))
  }
  for (const ok of ['auth.user.authorize', 'addressing.address.reconcile', 'tally.vote.record']) {
    it(`accepts the task name ${ok}`, () => expect(() => assertTaskName(ok)).not.to.throw())
  }
  for (const bad of ['auth.user', 'auth.user.authorize.now', 'Auth.user.authorize', 'auth..x', '']) {
    it(`refuses the task name ${JSON.stringify(bad)} with INVALID_NAME`, () =>
      expect(() => assertTaskName(bad))
        .to.throw()
        .with.property('code', 'INVALID_NAME'))
  }
  it('accepts wildcard subscriptions and matches them by segment', () => {
    for (const s of ['address.*', '*.created', 'user.auth*', '*.*'])
      expect(() => assertEventSubscription(s)).not.to.throw()
    expect(() => assertEventSubscription('address.#')).to.throw()
    expect(matchesSubscription('address.*', 'address.reconciled')).to.equal(true)
    expect(matchesSubscription('*.created', 'mover.created')).to.equal(true)
    expect(matchesSubscription('user.auth*', 'user.authed')).to.equal(true)
    expect(matchesSubscription('address.*', 'user.created')).to.equal(false)
  })
  it('finds the service a task is for', () => expect(taskService('tally.vote.record')).to.equal('tally'))

  it('refuses names no String() can print with INVALID_NAME, saying what they are', () => {
    let deep: unknown[] = []
    for (let i = 0; i < 200_000; i++) deep = [deep]
    const hostile = {
      toString() {
        throw new Error('no')
      },
    }
    for (const [name, shown] of [
      [Object.create(null), 'a object'],
      [deep, 'an array'],
      [hostile, 'a object'],
      [Symbol('s'), 'Symbol(s)'],
      [10n, '10'],
    ] as const) {
      for (const check of [assertTaskName, assertEventName, assertEventSubscription]) {
        expect(() => check(name))
          .to.throw(StoaError)
          .with.property('details')
          .that.deep.equals({ name: shown })
      }
    }
  })

  it('cuts a long refused name short in the error', () => {
    const err = (() => {
      try {
        assertTaskName('x'.repeat(10_000))
      } catch (e) {
        return e as StoaError
      }
    })()
    expect(err?.message.length).to.be.below(300)
  })
})
