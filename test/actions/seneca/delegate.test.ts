import { createRequire } from 'node:module'
import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import { quietLogger } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)
const math = require('../../fixtures/seneca-math.cjs') as (this: unknown, o: object) => void
const integer = require('../../fixtures/seneca-integer.cjs') as (this: unknown, o: object) => void
const store = require('../../fixtures/seneca-init.cjs') as (this: unknown, o: object) => void

type SenecaInstance = {
  use(p: unknown, o?: object): SenecaInstance
  act(p: unknown, cb: (err: Error | null, out: unknown) => void): void
  ready(cb: () => void): void
  close(cb: () => void): void
}

/** Runs the same pattern on real Seneca, so each test proves stoa gives Seneca's answer. */
function onSeneca(plugins: [unknown, object?][], pattern: object): Promise<unknown> {
  const Seneca = require('seneca') as (o: object) => SenecaInstance
  const seneca = Seneca({ log: 'silent', legacy: false })
  for (const [p, o] of plugins) seneca.use(p, o ?? {})
  return new Promise((resolve, reject) => {
    seneca.ready(() =>
      seneca.act(pattern, (err, out) => {
        seneca.close(() => undefined)
        if (err) reject(err)
        else resolve(JSON.parse(JSON.stringify(out)))
      }),
    )
  })
}

describe('actions/seneca/delegate: Seneca-style plugins run unchanged', function () {
  this.timeout(10000)

  it('runs the getting-started math plugin, with wrap and prior', async () => {
    const s = createStoa({ logger: quietLogger() }).use(math)
    const msg = { role: 'math', cmd: 'sum', left: '1', right: '2' }
    const out = await s.act(msg)
    expect(out).to.deep.equal({ answer: 3 })
    expect(out).to.deep.equal(await onSeneca([[math]], msg))
    expect(await s.act('role:math,cmd:product,left:3,right:4')).to.deep.equal({ answer: 12 })
  })

  it('runs a more specific override that acts through this.act, and a prior override', async () => {
    const s = createStoa({ logger: quietLogger() }).use(math).use(integer)
    const msg = { role: 'math', cmd: 'sum', integer: true, left: 1.5, right: 2.5 }
    const out = await s.act(msg)
    expect(out).to.deep.equal({ answer: 3, checked: true })
    expect(out).to.deep.equal(await onSeneca([[math], [integer]], msg))
  })

  it('runs the init:<name> action before the plugin serves, with the plugin options', async () => {
    const s = createStoa({ logger: quietLogger() }).use(store, { name: 'main' })
    const out = await s.act('role:store,cmd:get,key:k1')
    expect(out).to.deep.equal({ opened: 'main', key: 'k1' })
    expect(out).to.deep.equal(await onSeneca([[store, { name: 'main' }]], { role: 'store', cmd: 'get', key: 'k1' }))
  })

  it('calls back with an error a Seneca action reports, as a StoaError', async () => {
    const s = createStoa({ logger: quietLogger() })
    s.use(function failing(this: { add: Function }) {
      this.add('role:fail', function (_msg: unknown, reply: (e: Error) => void) {
        reply(new Error('nope'))
      })
    })
    const caught = await s.act('role:fail').catch((e: { code: string }) => e.code)
    expect(caught).to.equal('ACTION_FAILED')
  })

  it('keeps serving when a Seneca action throws or replies twice', async () => {
    const s = createStoa({ logger: quietLogger() })
    s.use(function sloppy(this: { add: Function }) {
      this.add('role:throw', function () {
        throw new Error('sync throw')
      })
      this.add('role:twice', function (_m: unknown, reply: (e: null, o: unknown) => void) {
        reply(null, 1)
        reply(null, 2)
      })
    })
    expect(await s.act('role:throw').catch((e: { code: string }) => e.code)).to.equal('ACTION_FAILED')
    expect(await s.act('role:twice')).to.equal(1)
  })
})
