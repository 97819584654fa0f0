import { expect } from 'chai'
import type { Transport } from '../../actions/index.js'
import { createStoa, definePlugin } from '../../actions/index.js'

/** A transport that listens nowhere and reports whatever health the test sets. */
function fakeTransport(state: { ready: boolean; reason: string }, log: string[] = []): Transport {
  return {
    name: 'fake',
    async listen() {},
    health: () => (state.ready ? { ready: true } : { ready: false, reason: state.reason }),
    async stopAccepting() {
      log.push('stopAccepting')
    },
    async close() {
      log.push('close')
    },
  }
}

describe('readiness', () => {
  it('is ready once started, with one line for the instance', async () => {
    const stoa = createStoa()
    await stoa.ready()
    expect(await stoa.readiness()).to.deep.equal({ ready: true, checks: [{ name: 'lifecycle', ready: true }] })
  })

  it('is not ready while a transport says so, with its reason', async () => {
    const state = { ready: false, reason: 'the broker connection is down' }
    const stoa = createStoa().listen(fakeTransport(state))
    await stoa.ready()
    const r = await stoa.readiness()
    expect(r.ready).to.equal(false)
    expect(r.checks).to.deep.include({ name: 'transport:fake', ready: false, reason: 'the broker connection is down' })
    state.ready = true
    expect((await stoa.readiness()).ready).to.equal(true)
    await stoa.close()
  })

  it('is not ready while a plugin check fails, throws or returns false', async () => {
    let db: 'up' | 'throws' | 'false' = 'up'
    const tally = definePlugin({
      name: 'tally',
      init: (stoa) => {
        stoa.addCheck('db', () => {
          if (db === 'throws') throw new Error('connection refused')
          return db === 'up'
        })
      },
    })
    const stoa = createStoa().use(tally)
    await stoa.ready()
    expect((await stoa.readiness()).ready).to.equal(true)
    db = 'throws'
    expect((await stoa.readiness()).checks).to.deep.include({ name: 'db', ready: false, reason: 'connection refused' })
    db = 'false'
    expect((await stoa.readiness()).checks).to.deep.include({ name: 'db', ready: false, reason: 'check failed' })
  })

  it('is not ready from the moment close begins', async () => {
    let release!: () => void
    const stoa = createStoa({ graceMs: 5000 }).add('role:slow', () => new Promise<void>((r) => (release = r)))
    await stoa.ready()
    const work = stoa.act('role:slow')
    const closing = stoa.close()
    const r = await stoa.readiness()
    expect(r.ready).to.equal(false)
    expect(r.checks[0]).to.deep.equal({ name: 'lifecycle', ready: false, reason: 'shutting down' })
    release()
    await work
    await closing
  })

  it('has every transport stop accepting before in-flight work drains, and close after', async () => {
    const log: string[] = []
    let release!: () => void
    const stoa = createStoa({ graceMs: 5000 })
      .listen(fakeTransport({ ready: true, reason: '' }, log))
      .add('role:slow', () => new Promise<void>((r) => (release = r)))
    await stoa.ready()
    const work = stoa.act('role:slow').then(() => log.push('work done'))
    const closing = stoa.close()
    await new Promise((r) => setImmediate(r))
    expect(log).to.deep.equal(['stopAccepting'])
    release()
    await work
    await closing
    expect(log).to.deep.equal(['stopAccepting', 'work done', 'close'])
  })
})
