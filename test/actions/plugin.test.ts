import { expect } from 'chai'
import { z } from 'zod'
import { action, createStoa, definePlugin, StoaError } from '../../actions/index.js'
import { tapTransport } from '../fixtures/tap.js'
import { quietLogger } from '../helpers/wait.js'

const make = () => createStoa({ logger: quietLogger() })

const counter = definePlugin({
  name: 'counter',
  options: z.object({
    start: z.number().int().default(0),
    store: z.object({ name: z.string(), pool: z.object({ max: z.number().min(1) }).default({ max: 4 }) }),
  }),
  actions: (opts, info) => ({
    [`role:counter,tag:${info.tag ?? 'main'},cmd:get`]: action({
      handler: () => ({ start: opts.start, store: opts.store.name }),
    }),
  }),
})

describe('actions/plugin', () => {
  it('validates options at use(), fills defaults and freezes the result', async () => {
    let seen: unknown
    const p = definePlugin({
      name: 'seen',
      options: z.object({ a: z.object({ b: z.number().default(2) }).default({ b: 2 }) }),
      init: (_s, opts) => void (seen = opts),
    })
    const s = make().use(p, {})
    await s.ready()
    expect(seen).to.deep.equal({ a: { b: 2 } })
    expect(Object.isFrozen(seen)).to.equal(true)
    expect(Object.isFrozen((seen as { a: object }).a)).to.equal(true)
  })

  it('fails at startup naming the plugin and the option', () => {
    const s = make()
    const bad = () => s.use(counter, { store: { name: 'db', pool: { max: 0 } } })
    expect(bad).to.throw(StoaError).with.property('code', 'INVALID_OPTIONS')
    expect(bad).to.throw(/plugin "counter": option "store.pool.max"/)
    const missing = () => (s.use as (p: unknown, o?: unknown) => unknown)(counter, {})
    expect(missing).to.throw(/plugin "counter": option "store"/)
  })

  it('loads a plugin twice only with distinct tags', async () => {
    const s = make()
    s.use(counter, { store: { name: 'a' } })
    s.use(counter, { store: { name: 'b' }, start: 5 }, { tag: 'second' })
    expect(() => s.use(counter, { store: { name: 'c' } }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    expect(await s.act('role:counter,tag:main,cmd:get')).to.deep.equal({ start: 0, store: 'a' })
    expect(await s.act('role:counter,tag:second,cmd:get')).to.deep.equal({ start: 5, store: 'b' })
    expect(s.find('role:counter,tag:second,cmd:get')?.plugin).to.equal('counter$second')
  })

  it('refuses a plugin whose dependency is not loaded, naming both', () => {
    const needy = definePlugin({ name: 'needy', dependencies: ['counter'] })
    expect(() => make().use(needy)).to.throw(/plugin "needy" needs plugin "counter"/)
  })

  it('runs async inits in order in ready(), and acts made before ready() wait for them', async () => {
    const order: string[] = []
    const slow = definePlugin({
      name: 'slow',
      init: async (stoa) => {
        await new Promise((r) => setTimeout(r, 30))
        order.push('slow')
        stoa.add('role:slow', () => 'ready')
      },
    })
    const fast = definePlugin({ name: 'fast', init: () => void order.push('fast') })
    const s = make().use(slow).use(fast)
    expect(await s.act('role:slow')).to.equal('ready')
    expect(order).to.deep.equal(['slow', 'fast'])
  })

  it('reports a failing init as a startup error naming the plugin', async () => {
    const broken = definePlugin({
      name: 'broken',
      init: () => {
        throw new Error('cannot connect')
      },
    })
    const s = make().use(broken)
    s.add('role:ping', () => 'pong')
    const err = (await s.ready().catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('INVALID_PLUGIN')
    expect(err.message).to.match(/plugin "broken" failed to start: cannot connect/)
    expect(await s.act('role:ping').catch((e: StoaError) => e.code)).to.equal('INVALID_PLUGIN')
    expect(await s.ready().catch((e: StoaError) => e.code)).to.equal('INVALID_PLUGIN')
  })

  it('runs close hooks returned by init in reverse order of loading', async () => {
    const order: string[] = []
    const p = (name: string) => definePlugin({ name, init: () => () => void order.push(name) })
    const s = make().use(p('one')).use(p('two')).use(p('three'))
    await s.ready()
    await s.close()
    expect(order).to.deep.equal(['three', 'two', 'one'])
  })

  it('keeps plugin state per instance', async () => {
    const tally = definePlugin({
      name: 'tally',
      init: (stoa) => {
        let n = 0
        stoa.add('role:tally', () => ++n)
      },
    })
    const a = make().use(tally)
    const b = make().use(tally)
    await a.act('role:tally')
    await a.act('role:tally')
    expect(await b.act('role:tally')).to.equal(1)
  })

  it('refuses plugin definitions that are malformed', () => {
    expect(() => definePlugin({ name: 'Bad Name' }))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    expect(() => definePlugin({ name: 'x', options: { not: 'a schema' } as never })).to.throw(/Standard Schema/)
    expect(() => make().use({} as never))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
  })
})

describe('plugins in the setup form', () => {
  const tally = definePlugin({
    name: 'tally',
    options: z.object({ step: z.number().default(1) }),
    setup: (options, host) => {
      let n = 0
      const heard: string[] = []
      return {
        actions: { 'role:tally,cmd:get': () => ({ n, service: host.name, plugin: host.plugin.fullname }) },
        hooks: {
          inbound: (next) => (msg, ctx) => {
            n += options.step
            return next(msg, ctx)
          },
        },
        observe: (transport) => ({ received: (kind) => void heard.push(`${transport} ${kind}`) }),
        init: (stoa) => {
          stoa.log.debug({}, 'tally started')
        },
        handle: { count: () => n, heard, log: host.log },
      }
    },
  })

  it('runs setup once per loading, each with its own closure, reached through handleOf', async () => {
    const logger = quietLogger()
    const s = createStoa({ name: 'svc', logger }).use(tally).use(tally, { step: 10 }, { tag: 'big' })
    await s.act('role:tally,cmd:get')
    expect(s.handleOf(tally).count()).to.equal(1)
    expect(s.handleOf(tally, { tag: 'big' }).count()).to.equal(10)
    expect(s.handleOf(tally).log).to.equal(logger)
    const other = createStoa({ logger: quietLogger() }).use(tally)
    expect(other.handleOf(tally).count()).to.equal(0)
    expect(await s.act('role:tally,cmd:get')).to.include({ service: 'svc' })
    await s.close()
  })

  it('tells every observing plugin what a transport reports, and survives one that throws', async () => {
    const broken = definePlugin({
      name: 'broken',
      setup: () => ({
        observe: () => ({
          received: () => {
            throw new Error('observer bug')
          },
        }),
      }),
    })
    const s = make().use(broken).use(tally)
    const tap = tapTransport('wire')
    await s.listen(tap).ready()
    tap.host.observer.received?.('send')
    tap.host.observer.retried?.('send', 1)
    expect(s.handleOf(tally).heard).to.deep.equal(['wire send'])
    expect(s.handleOf(broken)).to.equal(undefined)
    await s.close()
  })

  it('refuses setup beside actions, hooks or init, and handleOf for a plugin not loaded', () => {
    expect(() => definePlugin({ name: 'both', setup: () => ({}), init: () => undefined } as never))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    expect(() => make().handleOf(tally))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
  })
})
