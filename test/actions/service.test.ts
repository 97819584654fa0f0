import { expect } from 'chai'
import { defineService, StoaError } from '../../actions/index.js'

describe('actions/service', () => {
  it('keeps the declared clients as parsed pins, and leaves them to the runner', () => {
    const svc = defineService({
      name: 'gateway',
      plugins: [],
      clients: { auth: ['role:auth'], results: [{ role: 'results' }] },
    })
    expect(svc.clients).to.deep.equal({ auth: [{ role: 'auth' }], results: [{ role: 'results' }] })
    expect(Object.isFrozen(svc.clients)).to.equal(true)
    // The instance has no transport of its own: the acts are not routed anywhere yet.
    expect(svc.create().find('role:auth,cmd:login')).to.equal(undefined)
    expect(defineService({ name: 'alone', plugins: [] }).clients).to.deep.equal({})
  })

  it('refuses a malformed clients option at definition, naming the option', () => {
    const bad = [
      [{ Auth: ['role:auth'] }, /option "clients\.Auth": "Auth" is not a service name/],
      [{ gateway: ['role:gateway'] }, /a service does not call itself remotely/],
      [{ auth: [] }, /give the patterns it answers, like \['role:auth'\]/],
      [{ auth: ['role:'] }, /invalid pattern/],
    ] as const
    for (const [clients, why] of bad) {
      const make = () => defineService({ name: 'gateway', plugins: [], clients: clients as never })
      expect(make).to.throw(StoaError, why)
    }
  })
})
