import { createRequire } from 'node:module'
import { expect } from 'chai'
import { senecaApisBeyondDelegate } from '../../../actions/seneca/scan.js'

const require = createRequire(import.meta.url)
type Plugin = (this: unknown, o: object) => unknown
const basic = require('seneca-basic') as Plugin
const users = require('../../fixtures/seneca-users.cjs') as Plugin
const audit = require('../../fixtures/seneca-audit.cjs') as Plugin
const greet = require('../../fixtures/seneca-greet.cjs') as Plugin
const math = require('../../fixtures/seneca-math.cjs') as Plugin
const integer = require('../../fixtures/seneca-integer.cjs') as Plugin

/** A helper a plugin hands its instance to, as seneca-basic's registerNote(seneca, note). */
function registerAll(seneca: unknown): void {
  ;(seneca as { add: Function }).add('role:helper', (_m: unknown, reply: (o: unknown) => void) => reply({}))
}

describe("actions/seneca/scan: the Seneca APIs a plugin's source names", () => {
  it('finds none in documentation-style plugins, and what the others use beyond the delegate', () => {
    expect(senecaApisBeyondDelegate(math)).to.deep.equal([])
    expect(senecaApisBeyondDelegate(integer)).to.deep.equal([])
    expect(senecaApisBeyondDelegate(basic)).to.include('preload')
    expect(senecaApisBeyondDelegate(users)).to.include.members(['util', 'export'])
    expect(senecaApisBeyondDelegate(audit)).to.include.members(['export', 'util', 'root'])
    expect(senecaApisBeyondDelegate(greet)).to.include.members(['prepare', 'message', 'post'])
    // A helper defined elsewhere gets the instance: what it uses cannot be read.
    const handsOff = function handsOff(this: unknown) {
      registerAll(this)
    }
    expect(senecaApisBeyondDelegate(handsOff)).to.deep.equal(['this passed to a function'])
  })
})
