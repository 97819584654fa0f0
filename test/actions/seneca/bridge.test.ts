import Module, { createRequire } from 'node:module'
import { expect } from 'chai'
import type { Context } from '../../../actions/index.js'
import { createStoa, onSeneca, StoaError } from '../../../actions/index.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)
type Plugin = (this: unknown, o: object) => unknown
const basic = require('seneca-basic') as Plugin
const entity = require('seneca-entity') as Plugin
const memStore = require('seneca-mem-store') as Plugin
const promisify = require('seneca-promisify') as Plugin
const users = require('../../fixtures/seneca-users.cjs') as Plugin
const audit = require('../../fixtures/seneca-audit.cjs') as Plugin
const greet = require('../../fixtures/seneca-greet.cjs') as Plugin
const precedence = require('../../fixtures/seneca-precedence.cjs') as Plugin
const settings = require('../../fixtures/seneca-settings.cjs') as Plugin
const math = require('../../fixtures/seneca-math.cjs') as Plugin

type Msg = Record<string, unknown>
/** An act of a scenario: a message, or a message built from the answers so far. */
type Step = Msg | ((answers: unknown[]) => Msg)

interface SenecaInstance {
  use(p: unknown, o?: object): SenecaInstance
  act(msg: object, cb: (err: (Error & { code?: string }) | null, out: unknown) => void): void
  ready(cb: () => void): void
  close(cb: () => void): void
}

/** Ids are random: an id-like value is compared by its shape, six base-36 characters. */
function shape(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => shape(v))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v, k)]))
  }
  if (typeof value === 'string' && (key === 'id' || key === 'removed' || key === '') && /^[0-9a-z]{6}$/.test(value))
    return '<id>'
  return value
}

/** The answers, as JSON would carry them; a failure is written as `failed`. */
function json(out: unknown): unknown {
  return out === undefined ? null : JSON.parse(JSON.stringify(out))
}

/**
 * The instance settings both sides run with: a Seneca instance and a stoa instance the
 * application configured alike, so a plugin reading `seneca.options()` sees the same on both.
 */
const SAME = { tag: 'side', timeout: 9876 }

async function onSenecaItself(plugins: [Plugin, object?][], steps: Step[]): Promise<unknown[]> {
  const Seneca = require('seneca') as (o: object) => SenecaInstance
  const seneca = Seneca({ log: 'silent', ...SAME })
  for (const [p, o] of plugins) seneca.use(p, o ?? {})
  await new Promise<void>((resolve) => seneca.ready(resolve))
  const answers: unknown[] = []
  for (const step of steps) {
    const msg = typeof step === 'function' ? step(answers) : step
    answers.push(
      await new Promise((resolve) =>
        seneca.act(structuredClone(msg), (err, out) => resolve(err ? { failed: true } : json(out))),
      ),
    )
  }
  await new Promise<void>((resolve) => seneca.close(resolve))
  return answers
}

async function onStoa(plugins: [Plugin, object?][], steps: Step[]): Promise<unknown[]> {
  const s = createStoa({ name: SAME.tag, timeoutMs: SAME.timeout, logger: quietLogger() })
  for (const [p, o] of plugins) s.use(p, o as Record<string, unknown>)
  const answers: unknown[] = []
  try {
    for (const step of steps) {
      const msg = typeof step === 'function' ? step(answers) : step
      answers.push(await s.act(structuredClone(msg)).then(json, () => ({ failed: true })))
    }
  } finally {
    await s.close()
  }
  return answers
}

/** Runs the same plugins and acts on Seneca 3.38 and on stoa; returns both sides' answers. */
async function sideBySide(
  plugins: [Plugin, object?][],
  steps: Step[],
): Promise<{ seneca: unknown[]; stoa: unknown[] }> {
  const seneca = await onSenecaItself(plugins, steps)
  const stoa = await onStoa(plugins, steps)
  return { seneca: shape(seneca) as unknown[], stoa: shape(stoa) as unknown[] }
}

const idOf = (i: number) => (answers: unknown[]) => (answers[i] as { id: string }).id

describe("actions/seneca/bridge: published Seneca plugins give Seneca's answers", function () {
  this.timeout(20000)

  it('seneca-basic@1.0.0: notes and ids', async () => {
    const steps: Step[] = [
      { role: 'basic', cmd: 'generate_id' },
      { role: 'basic', note: true, cmd: 'set', key: 'k', value: 'v1' },
      { role: 'basic', note: true, cmd: 'get', key: 'k' },
      { role: 'basic', note: true, cmd: 'push', key: 'q', value: 1 },
      { role: 'basic', note: true, cmd: 'push', key: 'q', value: 2 },
      { role: 'basic', note: true, cmd: 'list', key: 'q' },
      { role: 'basic', note: true, cmd: 'pop', key: 'q' },
    ]
    const { seneca, stoa } = await sideBySide([[basic]], steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa[0]).to.equal('<id>')
    expect(stoa[2]).to.deep.equal({ value: 'v1' })
  })

  it('seneca-entity with seneca-mem-store: save, load, list, remove through role:entity', async () => {
    const ent = { role: 'entity', base: 'sys', name: 'item' }
    const steps: Step[] = [
      { ...ent, cmd: 'save', ent: { label: 'a' } },
      { ...ent, cmd: 'save', ent: { label: 'b' } },
      (a) => ({ ...ent, cmd: 'load', q: { id: idOf(0)(a) } }),
      { ...ent, cmd: 'list', q: {} },
      { ...ent, cmd: 'list', q: { label: 'b' } },
      (a) => ({ ...ent, cmd: 'remove', q: { id: idOf(0)(a) } }),
      { ...ent, cmd: 'list', q: {} },
    ]
    const plugins: [Plugin, object?][] = [[promisify], [entity, { mem_store: false }], [memStore]]
    const { seneca, stoa } = await sideBySide(plugins, steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa[2]).to.deep.equal({ entity$: '-/sys/item', label: 'a', id: '<id>' })
    expect(stoa[6]).to.have.length(1)
  })

  it('an application plugin using make$, this.util and one-argument replies, with another overriding it through this.prior and this.export', async () => {
    const steps: Step[] = [
      { role: 'user', cmd: 'register', name: ' Ann ', email: 'ann@x' },
      { role: 'user', cmd: 'register', name: 'BOB', email: 'bob@x' },
      { role: 'user', cmd: 'register', name: 'al' },
      (a) => ({ role: 'user', cmd: 'get', id: idOf(0)(a) }),
      { role: 'user', cmd: 'list' },
      (a) => ({ role: 'user', cmd: 'remove', id: idOf(1)(a) }),
      { role: 'user', cmd: 'list' },
      { role: 'audit', cmd: 'trail' },
    ]
    const plugins: [Plugin, object?][] = [[promisify], [entity], [users, { minLength: 3 }], [audit]]
    const { seneca, stoa } = await sideBySide(plugins, steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa[0]).to.deep.equal({ audited: true, notified: false, name: 'ann', email: 'ann@x', id: '<id>' })
    expect(stoa[2]).to.deep.equal({ failed: true })
    expect(stoa[6]).to.deep.equal({ names: ['ann'] })
    expect(stoa[7]).to.deep.equal({ trail: ['ann', 'bob'], root: 'function' })
  })

  it("a message nothing answers: act_not_found in the callback, or the message's default$", async () => {
    const probe = function probe(this: { add: Function }) {
      this.add(
        'role:probe,cmd:missing',
        function (this: { act: Function }, _msg: unknown, reply: (o: unknown) => void) {
          this.act('role:nobody', function (err: { code?: string } | null) {
            reply({ code: err ? err.code : null })
          })
        },
      )
      this.add(
        'role:probe,cmd:default',
        function (this: { act: Function }, _msg: unknown, reply: (o: unknown) => void) {
          this.act('role:nobody', { default$: { fallback: true } }, function (err: unknown, out: unknown) {
            reply({ failed: !!err, out })
          })
        },
      )
    }
    const steps: Step[] = [
      { role: 'probe', cmd: 'missing' },
      { role: 'probe', cmd: 'default' },
    ]
    const { seneca, stoa } = await sideBySide([[probe as Plugin]], steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa).to.deep.equal([{ code: 'act_not_found' }, { failed: false, out: { fallback: true } }])
  })

  it('a plugin using defaults, preload, decorate, delegate, fixedargs, find_plugin and options()', async () => {
    const steps: Step[] = [
      { role: 'settings', cmd: 'get', key: 'a' },
      { role: 'settings', cmd: 'get', key: 'b' },
      { role: 'settings', cmd: 'zoned' },
    ]
    const { seneca, stoa } = await sideBySide([[settings, { values: { b: 2 } }]], steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa[1]).to.deep.include({ value: 2, limit: 10, loaded: true, version: 'string', timeout: SAME.timeout })
    expect(stoa[2]).to.deep.equal({ zone: 'eu', fixed: 'eu' })
  })

  it("a plugin reading seneca.options() sees the stoa instance's timeout and name, not Seneca's defaults", async () => {
    const s = createStoa({ name: 'billing', timeoutMs: 4321, logger: quietLogger() })
    s.use(function instance(this: { options(): Msg; add: Function }) {
      const opts = this.options()
      this.add('role:instance', function (this: { tag: string }, _msg: Msg, reply: (o: unknown) => void) {
        reply({ timeout: opts.timeout, tag: opts.tag, instanceTag: this.tag })
      })
    })
    expect(await s.act('role:instance')).to.deep.equal({ timeout: 4321, tag: 'billing', instanceTag: 'billing' })
    await s.close()
  })

  it("seneca.list() and seneca-doc's describe:pin show Seneca's actions only, not stoa's catch-all", async () => {
    // What seneca-doc's sys:doc,describe:pin does: list the pin's patterns, describe each.
    const doc = function doc(this: { add: Function; list(pin?: unknown): Msg[]; find(p: Msg): Msg }) {
      const seneca = this
      seneca.add('sys:doc,describe:pin', function (msg: Msg, reply: (o: unknown) => void) {
        const actions = seneca.list(msg.pin).map((pat) => seneca.find(pat))
        reply({ actions: actions.map((a) => ({ pattern: a.pattern, name: a.name, plugin: a.plugin_fullname })) })
      })
      seneca.add('role:math,cmd:sum', function (_msg: Msg, reply: (o: unknown) => void) {
        reply({ answer: 0 })
      })
    }
    const steps: Step[] = [
      { sys: 'doc', describe: 'pin', pin: {} },
      { sys: 'doc', describe: 'pin', pin: 'role:math' },
    ]
    const { seneca, stoa } = await sideBySide([[doc as Plugin]], steps)
    expect(stoa).to.deep.equal(seneca)
    const patterns = (stoa[0] as { actions: { pattern: string }[] }).actions.map((a) => a.pattern)
    expect(patterns).to.include.members(['describe:pin,sys:doc', 'cmd:sum,role:math']).and.not.include('')
  })

  it('seneca-promisify: message actions, post and prepare', async () => {
    const steps: Step[] = [
      { role: 'greet', cmd: 'hello', name: 'ann' },
      { role: 'greet', cmd: 'twice', name: 'bob' },
    ]
    const { seneca, stoa } = await sideBySide([[promisify], [greet, { greeting: 'hi' }]], steps)
    expect(stoa).to.deep.equal(seneca)
    expect(stoa[1]).to.deep.equal({ texts: ['hi, bob', 'hi, BOB'] })
  })
})

describe('actions/seneca/bridge: Seneca plugins and stoa actions call each other', function () {
  this.timeout(20000)

  it("a Seneca action calls a stoa action with the caller's identity, trace and deadline, and a stoa action calls it", async () => {
    const s = createStoa({ logger: quietLogger() })
    let seen: { token: string | undefined; trace: string; deadline: number } | undefined
    s.add('role:notify,cmd:registered', (msg: Msg, ctx: Context) => {
      seen = { token: ctx.token, trace: ctx.trace, deadline: ctx.deadline }
      return { sent: true, to: msg.name }
    })
    s.use(promisify).use(entity).use(users).use(audit)
    await s.ready()
    s.add('role:signup', async (msg: Msg, ctx: Context) => ctx.act({ role: 'user', cmd: 'register', name: msg.name }))
    const before = Date.now()
    const out = (await s.act({ role: 'signup', name: 'Cyd' }, undefined, {
      token: 'tok-1',
      trace: 'trace-1',
      timeoutMs: 5000,
    })) as Msg
    expect(out).to.include({ audited: true, notified: true, name: 'cyd' })
    expect(seen?.token).to.equal('tok-1')
    expect(seen?.trace).to.equal('trace-1')
    expect(seen!.deadline).to.be.within(before, before + 5000 + 50)
    await s.close()
  })

  it("an act a Seneca action makes after replying still carries the call's token and trace", async () => {
    const s = createStoa({ logger: quietLogger() })
    let seen: { token: string | undefined; trace: string } | undefined
    s.add('role:later', (_m: Msg, ctx: Context) => {
      seen = { token: ctx.token, trace: ctx.trace }
      return {}
    })
    const eager = function eager(this: { add: Function }) {
      this.add('role:eager', function (this: { act: Function }, _msg: Msg, reply: (o: unknown) => void) {
        const self = this
        reply({ accepted: true })
        setImmediate(() => self.act('role:later', () => undefined))
      })
    }
    // On the bridge, the kernel call has ended when the later act reaches the catch-all.
    s.use(onSeneca(eager))
    expect(await s.act({ role: 'eager' }, undefined, { token: 'tok-7', trace: 'trace-7' })).to.deep.equal({
      accepted: true,
    })
    await waitFor(() => seen !== undefined, 'the later act')
    expect(seen).to.deep.equal({ token: 'tok-7', trace: 'trace-7' })
    await s.close()
  })

  it('a Seneca action overriding a stoa action reaches it through this.prior', async () => {
    const s = createStoa({ logger: quietLogger() })
    s.add('role:price,cmd:quote', (msg: Msg) => ({ price: Number(msg.qty) * 10 }))
    s.use(function discount(this: { add: Function; util: unknown }) {
      this.add('role:price,cmd:quote', function (this: { prior: Function }, msg: Msg, reply: (o: unknown) => void) {
        this.prior(msg, function (_err: unknown, out: { price: number }) {
          reply({ price: out.price * 0.9, discounted: true })
        })
      })
      return this.util === undefined ? 'missing util' : 'discount'
    })
    expect(await s.act('role:price,cmd:quote', { qty: 2 })).to.deep.equal({ price: 18, discounted: true })
    await s.close()
  })

  it('loads a Seneca plugin twice with a tag, and one that loads seneca-basic by name', async () => {
    const s = createStoa({ logger: quietLogger() })
    const app = function app(this: { use: Function; add: Function; util: unknown }) {
      this.use('basic')
    }
    s.use(promisify).use(entity).use(app).use(users).use(users, { role: 'customer' }, { tag: 'c' })
    await s.ready()
    const saved = (await s.act({ role: 'customer', cmd: 'register', name: 'Eve' })) as Msg
    expect(saved).to.include({ name: 'eve' })
    expect(await s.act({ role: 'user', cmd: 'list' })).to.deep.equal({ names: ['eve'] })
    expect(s.find('role:customer,cmd:register')?.plugin).to.equal('users$c')
    expect(s.find('role:user,cmd:register')?.plugin).to.equal('users')
    expect(await s.act('role:basic,cmd:generate_id')).to.match(/^[0-9a-z]{6}$/)
    await s.close()
  })

  it("an action added between use() and ready() is the prior of the plugin's own, as under Seneca", async () => {
    const plugin = function p(this: { add: Function }) {
      this.add('a:1', function (this: { prior: Function }, msg: Msg, reply: (o: unknown) => void) {
        this.prior(msg, (_e: unknown, o: unknown) => reply({ from: 'plugin', prior: o }))
      })
    }
    const Seneca = require('seneca') as (o: object) => SenecaInstance & { add(p: string, f: Function): void }
    const seneca = Seneca({ log: 'silent' })
    seneca.use(plugin)
    seneca.add('a:1', (_m: Msg, reply: (e: null, o: unknown) => void) => reply(null, { from: 'app' }))
    await new Promise<void>((resolve) => seneca.ready(resolve))
    const expected = await new Promise((resolve) => seneca.act({ a: 1 }, (_e, out) => resolve(json(out))))
    await new Promise<void>((resolve) => seneca.close(resolve))
    const s = createStoa({ logger: quietLogger() }).use(onSeneca(plugin))
    s.add('a:1', () => ({ from: 'app' }))
    expect(await s.act('a:1'))
      .to.deep.equal(expected)
      .and.deep.equal({ from: 'plugin', prior: { from: 'app' } })
    await s.close()
  })

  it('a StoaError keeps its code through a Seneca action that passes it on', async () => {
    const s = createStoa({ logger: quietLogger() })
    s.add('role:guarded', () => {
      throw new StoaError('FORBIDDEN', 'not for you', { need: 'admin' })
    })
    const relay = function relay(this: { add: Function }) {
      this.add('role:relay', function (this: { act: Function }, _msg: Msg, reply: (e: unknown, o?: unknown) => void) {
        this.act('role:guarded', function (err: unknown, out: unknown) {
          reply(err, out)
        })
      })
    }
    s.use(onSeneca(relay))
    const err = await s.act('role:relay').then(
      () => undefined,
      (e: StoaError) => e,
    )
    expect(err).to.be.instanceOf(StoaError)
    expect(err).to.include({ code: 'FORBIDDEN', message: 'not for you' })
    await s.close()
  })

  it('a Seneca plugin tolerating a failing stoa action answers as under Seneca', async () => {
    const s = createStoa({ logger: quietLogger() })
    s.use(promisify).use(entity).use(users).use(audit)
    s.add('role:notify,cmd:registered', () => {
      throw new (class extends Error {})('smtp down')
    })
    const caught = await s.act({ role: 'user', cmd: 'register', name: 'dee' }).then(
      () => 'resolved',
      (e: { code: string }) => e.code,
    )
    // audit tolerates a failing notification, as the same plugin does under Seneca.
    expect(caught).to.equal('resolved')
    s.add('role:user,cmd:strict', async (_m: Msg, ctx: Context) =>
      ctx.act({ role: 'user', cmd: 'get' }, { id: 'nope00' }),
    )
    expect(await s.act('role:user,cmd:strict')).to.deep.equal({ missing: true })
    await s.close()
  })
})

describe('actions/seneca/bridge: what runs where, and what fails at use()', () => {
  it('fails at use() with INVALID_PLUGIN naming the missing API when seneca is not installed', () => {
    // Module._load, not _resolveFilename: a require Node has answered before from the same
    // folder skips resolution, so only _load sees every require.
    const resolver = Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown }
    const original = resolver._load
    resolver._load = function (req: string, ...rest: unknown[]) {
      if (req === 'seneca') throw Object.assign(new Error(`Cannot find module '${req}'`), { code: 'MODULE_NOT_FOUND' })
      return original.call(this, req, ...rest)
    }
    try {
      const s = createStoa({ logger: quietLogger() })
      expect(() => s.use(users))
        .to.throw(/plugin "users" needs real Seneca \(it uses .*util.*\), and seneca is not installed/)
        .with.property('code', 'INVALID_PLUGIN')
      // The delegate needs no Seneca.
      expect(() => s.use(math)).not.to.throw()
    } finally {
      resolver._load = original
    }
  })

  it('fails at use() for Seneca 1 plugins, and in ready(), naming the plugin, when a definition throws', async () => {
    const s = createStoa({ logger: quietLogger() })
    const legacy = function legacy(this: { util: unknown }, _o: object, _register: unknown) {
      return this.util
    }
    expect(() => s.use(legacy as Plugin))
      .to.throw(/register/)
      .with.property('code', 'INVALID_PLUGIN')
    const broken = function broken(this: { util: { nosuch(): void } }) {
      this.util.nosuch()
    }
    // Seneca defines plugins asynchronously: the throw is seen when the kernel starts, and no
    // act is served by a half-loaded plugin.
    s.use(broken)
    const started = Date.now()
    const err = await s.ready().then(
      () => undefined,
      (e: { code: string; message: string }) => e,
    )
    expect(err?.code).to.equal('INVALID_PLUGIN')
    expect(err?.message).to.match(/"broken" failed to start: .*nosuch/)
    expect(await s.act('role:any').catch((e: { code: string }) => e.code)).to.equal('INVALID_PLUGIN')
    expect(Date.now() - started).to.be.below(5000)
    await s.close()
  })

  it("glob precedence: stoa's router on the delegate, Seneca's with onSeneca", async () => {
    const msg = { c: 2, d: 'x', cmd: 'z' }
    const [senecaAnswer] = await onSenecaItself([[precedence]], [msg])
    expect(senecaAnswer).to.deep.equal({ ran: 'c:*' })
    const fast = createStoa({ logger: quietLogger() }).use(precedence)
    expect(await fast.act(msg)).to.deep.equal({ ran: 'cmd:*,d:x' })
    const bridged = createStoa({ logger: quietLogger() }).use(onSeneca(precedence))
    expect(await bridged.act(msg)).to.deep.equal(senecaAnswer)
    await bridged.close()
  })
})
