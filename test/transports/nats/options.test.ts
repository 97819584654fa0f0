import { expect } from 'chai'
import { StoaError } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { fromEnvironment, resolveNatsOptions } from '../../../transports/nats/options.js'

describe('nats options', () => {
  it('fills in the safe defaults', () => {
    // The defaults, whatever server the environment names for the other tests.
    const named = process.env.STOA_NATS_URL
    delete process.env.STOA_NATS_URL
    try {
      expect(resolveNatsOptions({})).to.deep.include({
        url: 'nats://127.0.0.1:4222',
        prefix: 'stoa',
        prefetch: 100,
        attempts: 5,
        replicas: 1,
        ackWaitMs: 30_000,
      })
    } finally {
      if (named !== undefined) process.env.STOA_NATS_URL = named
    }
  })

  it('names a misspelt or invalid option, and a prefix that cannot name a stream', () => {
    const fail = (o: unknown) => {
      try {
        resolveNatsOptions(o as never)
      } catch (err) {
        return err as StoaError
      }
      throw new Error('accepted')
    }
    expect(fail({ prefetsh: 1 }).details).to.deep.equal({ transport: 'nats', fields: ['prefetsh'] })
    expect(fail({ prefix: 'a.b' }).code).to.equal('INVALID_OPTIONS')
    expect(fail({ backoffMs: 100, maxBackoffMs: 10 }).details?.fields).to.deep.equal(['maxBackoffMs'])
  })

  it('reads STOA_NATS_URL only when no url is given', () => {
    expect(fromEnvironment({ STOA_NATS_URL: 'nats://h:1' })).to.deep.equal({ url: 'nats://h:1' })
    expect(fromEnvironment({})).to.deep.equal({})
  })

  it('needs a target to carry pinned acts', async () => {
    const t = createNatsTransport({})
    const host = { service: 'gateway', log: { error() {}, warn() {}, info() {}, debug() {} } } as never
    const err = await t.client!(host, [{ role: 'math' }]).catch((e: unknown) => e)
    expect(err).to.be.instanceOf(StoaError)
    expect((err as StoaError).code).to.equal('INVALID_OPTIONS')
  })
})
