import { createRequire } from 'node:module'
import { expect } from 'chai'
import { createStoa, onSeneca } from '../../../actions/index.js'
import { quietLogger } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)
type Plugin = (this: unknown, o: object) => unknown
const math = require('../../fixtures/seneca-math.cjs') as Plugin
const users = require('../../fixtures/seneca-users.cjs') as Plugin
const precedence = require('../../fixtures/seneca-precedence.cjs') as Plugin

/** A plugin whose source names `this.util`, though its action only reports whether it has one. */
function probe(this: { add: Function }) {
  this.add('role:probe', function (this: { util?: unknown }, _msg: unknown, reply: (o: unknown) => void) {
    reply({ util: typeof this.util })
  })
}

describe('actions/seneca: which engine runs a Seneca plugin', function () {
  this.timeout(10000)

  it("runs a plugin on real Seneca with { engine: 'seneca' }, though its source needs only stoa's engine", async () => {
    const msg = { c: 2, d: 'x', cmd: 'z' }
    const s = createStoa({ logger: quietLogger() }).use(precedence, {}, { engine: 'seneca' })
    // Seneca's router prefers `c:*` here, stoa's `cmd:*,d:x` (docs/seneca.md, glob precedence).
    expect(await s.act(msg)).to.deep.equal({ ran: 'c:*' })
    await s.close()
  })

  it("runs a plugin on stoa's engine with { engine: 'stoa' }, though its source names a Seneca API, and warns", async () => {
    const logger = quietLogger()
    const s = createStoa({ logger }).use(probe, {}, { engine: 'stoa' })
    // Defined during use(), as on stoa's engine only; real Seneca defines plugins later.
    expect(s.has('role:probe')).to.equal(true)
    expect(await s.act('role:probe')).to.deep.equal({ util: 'undefined' })
    const warning = logger.entries.find((e) => e.level === 'warn' && e.fields.plugin === 'probe')
    expect(warning?.fields).to.deep.include({ engine: 'stoa', uses: ['util'] })
    await s.close()
  })

  it('logs the engine the source scan chose, with the APIs that chose it, when none is given', async () => {
    const logger = quietLogger()
    const s = createStoa({ logger }).use(math).use(users)
    const chosen = logger.entries.filter((e) => e.level === 'info' && e.fields.engine !== undefined)
    expect(chosen.map((e) => [e.fields.plugin, e.fields.engine])).to.deep.equal([
      ['math', 'stoa'],
      ['users', 'seneca'],
    ])
    expect(chosen[1]!.fields.uses).to.include.members(['util', 'export'])
    await s.close()
  })

  it('refuses an engine it does not know, and onSeneca contradicted by { engine: "stoa" }', () => {
    const s = createStoa({ logger: quietLogger() })
    expect(() => s.use(math, {}, { engine: 'real' as never }))
      .to.throw(/engine/)
      .with.property('code', 'INVALID_OPTIONS')
    expect(() =>
      s.use(
        onSeneca(function marked() {}),
        {},
        { engine: 'stoa' },
      ),
    )
      .to.throw(/onSeneca/)
      .with.property('code', 'INVALID_PLUGIN')
  })
})
