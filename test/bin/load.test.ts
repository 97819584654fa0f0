import { expect } from 'chai'
import { z } from 'zod'
import type { Stoa } from '../../actions/index.js'
import { definePlugin, defineService } from '../../actions/index.js'
import { assemble } from '../../bin/load.js'
import { quietLogger } from '../helpers/wait.js'

const file = '/srv/vote-gateway.ts'
const logger = quietLogger()
const opts = { cwd: '/', logger, file }

const ping = definePlugin({ name: 'ping', actions: { 'role:ping': () => 'pong' } })
const scaled = definePlugin({
  name: 'scaled',
  options: z.object({ factor: z.number() }),
  actions: (o) => ({ 'role:scale': (msg: { n?: unknown }) => Number(msg.n) * o.factor }),
})

async function once(stoa: Stoa, pattern: string, msg = {}): Promise<unknown> {
  try {
    return await stoa.act(pattern, msg)
  } finally {
    await stoa.close()
  }
}

describe('bin/load', () => {
  describe('assemble', () => {
    it('creates a defineService service under its own name', async () => {
      const stoa = assemble(defineService({ name: 'pinger', plugins: [ping] }), opts)
      expect(stoa.name).to.equal('pinger')
      expect(await once(stoa, 'role:ping')).to.equal('pong')
    })

    it('names a plugin-only service after its first plugin, or --name', () => {
      expect(assemble(ping, opts).name).to.equal('ping')
      expect(assemble(ping, { ...opts, name: 'other' }).name).to.equal('other')
    })

    it('names a service of anonymous functions after its file', () => {
      expect(assemble([function () {}], opts).name).to.equal('vote-gateway')
    })

    it('takes [plugin, options] alone as one plugin with its options', async () => {
      const stoa = assemble([scaled, { factor: 3 }], opts)
      expect(await once(stoa, 'role:scale', { n: 2 })).to.equal(6)
    })

    it('takes a list of plugins and pairs', async () => {
      const stoa = assemble([ping, [scaled, { factor: 2 }]], opts)
      expect(await stoa.act('role:ping')).to.equal('pong')
      expect(await once(stoa, 'role:scale', { n: 2 })).to.equal(4)
    })

    it('validates plugin options as use() does', () => {
      expect(() => assemble(scaled, opts))
        .to.throw()
        .with.property('code', 'INVALID_OPTIONS')
    })

    it('refuses what is not a service, naming the item at fault', () => {
      expect(() => assemble({ name: 'x' }, opts))
        .to.throw(/must export a service/)
        .with.property('code', 'INVALID_PLUGIN')
      expect(() => assemble([ping, 'nope'], opts)).to.throw(/item 1 of the default export/)
      expect(() => assemble([], opts)).to.throw(/empty list/)
    })
  })
})
