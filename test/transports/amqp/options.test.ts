import { expect } from 'chai'
import type { StoaError } from '../../../actions/index.js'
import { fromEnvironment, resolveAmqpOptions } from '../../../transports/amqp/options.js'
import { bindingKey, names } from '../../../transports/amqp/topology.js'

describe('amqp options and names', () => {
  it('fills in the safe defaults', () => {
    const o = resolveAmqpOptions({ url: 'amqp://h' })
    expect(o.url).to.deep.equal(['amqp://h'])
    expect(o).to.include({
      prefix: 'stoa',
      prefetch: 100,
      attempts: 5,
      queueType: 'classic',
      bufferSize: 1000,
      publishWaitMs: 2000,
    })
    expect(Object.isFrozen(o)).to.equal(true)
  })

  it('takes several broker addresses, as a list or comma-separated, and refuses one that is not amqp', () => {
    expect(resolveAmqpOptions({ url: 'amqp://a:1, amqp://b:2' }).url).to.deep.equal(['amqp://a:1', 'amqp://b:2'])
    expect(resolveAmqpOptions({ url: ['amqp://a:1', 'amqps://b:2'] }).url).to.deep.equal(['amqp://a:1', 'amqps://b:2'])
    const err = (() => {
      try {
        resolveAmqpOptions({ url: 'amqp://a:1,http://b' })
      } catch (e) {
        return e as StoaError
      }
    })()
    expect(err?.code).to.equal('INVALID_OPTIONS')
    expect(err?.message).to.include('url')
  })

  it('reads STOA_AMQP_URL only as a fallback', () => {
    expect(fromEnvironment({ STOA_AMQP_URL: 'amqp://env' })).to.deep.equal({ url: 'amqp://env' })
    expect(fromEnvironment({})).to.deep.equal({})
  })

  it('names the faulty option with INVALID_OPTIONS', () => {
    const bad = (o: object) => {
      try {
        resolveAmqpOptions(o as never)
      } catch (err) {
        return err as StoaError
      }
      throw new Error('accepted')
    }
    expect(bad({ prefetch: 0 })).to.include({ code: 'INVALID_OPTIONS' })
    expect(bad({ prefetch: 0 }).message).to.include('"prefetch"')
    expect(bad({ prefix: 'has space' }).details).to.deep.equal({ transport: 'amqp', fields: ['prefix'] })
    expect(bad({ backoffMs: 500, maxBackoffMs: 100 }).message).to.include('maxBackoffMs')
  })

  it('derives every name from the prefix', () => {
    const n = names('p')
    expect([
      n.rpc('math'),
      n.tasks('tally'),
      n.events,
      n.eventQueue('audit'),
      n.retry,
      n.retryQueue(250),
      n.dlq('tally'),
    ]).to.deep.equal([
      'p.rpc.math',
      'p.tasks.tally',
      'p.events',
      'p.events.audit',
      'p.retry',
      'p.retry.250',
      'p.dlq.tally',
    ])
  })

  it('binds whole-segment wildcards as they are and widens partial ones', () => {
    expect(bindingKey('address.*')).to.equal('address.*')
    expect(bindingKey('user.auth*')).to.equal('user.*')
    expect(bindingKey('vote.recorded')).to.equal('vote.recorded')
  })
})
