import type { Context } from './context.js'
import { StoaError } from './errors.js'
import type { ActionInfo } from './hooks.js'
import type { Logger } from './logger.js'
import type { Message } from './pattern.js'
import type { PluginLoader } from './plugin.js'
import { toMessage } from './pattern.js'

/** Seneca's callback convention: `reply(err, out)`. */
type Reply = (err?: unknown, out?: unknown) => void
type SenecaAction = (this: SenecaDelegate, msg: Message, reply: Reply, meta?: unknown) => void
type SenecaPlugin = (this: SenecaDelegate, options: Message) => unknown

/** The `this` a Seneca plugin or action sees: the part of Seneca's API plugins use. */
interface SenecaDelegate {
  add(pattern: string | Message, second?: Message | SenecaAction, third?: SenecaAction): SenecaDelegate
  act(pattern: string | Message, second?: Message | Reply, third?: Reply): SenecaDelegate
  prior(msg: Message, reply?: Reply): void
  wrap(pin: string | Message, action: SenecaAction): SenecaDelegate
  use(plugin: SenecaPlugin, options?: Message): SenecaDelegate
  has(pattern: string | Message): boolean
  find(pattern: string | Message): unknown
  list(pattern?: string | Message): Message[]
  ready(done?: (err?: unknown) => void): SenecaDelegate
  options(): Message
  log: Record<'debug' | 'info' | 'warn' | 'error' | 'fatal', (...args: unknown[]) => void>
  context: Message
}

/** The part of a stoa instance a Seneca plugin reaches: its public API, nothing more. */
interface SenecaHost {
  readonly log: Logger
  add(pattern: string | Message, action: (msg: Message, ctx: Context) => unknown): unknown
  act(pattern: Message): Promise<unknown>
  use(plugin: SenecaPlugin, options?: Message): unknown
  has(pattern: string | Message): boolean
  find(pattern: string | Message): ActionInfo | undefined
  list(pattern?: string | Message): ActionInfo[]
  ready(): Promise<unknown>
}

let anonymous = 0

/**
 * Runs a callback-style Seneca plugin unchanged: `this.add(pattern, function (msg, reply) {..})`,
 * `this.act(pattern, cb)`, `this.prior(msg, reply)`, `this.wrap(pin, fn)`, nested `this.use`,
 * and an `init:<name>` action, which runs in `ready()` as Seneca runs it at load time.
 * Seneca's conventions stay in this file; the rest of stoa never sees them.
 */
export function runSenecaPlugin(stoa: SenecaHost, loader: PluginLoader, plugin: SenecaPlugin, options: Message, tag: string | undefined): void {
  const name = plugin.name !== '' ? plugin.name : `plugin${++anonymous}`
  const info = loader.claim(name, tag)
  const shared: Message = {}
  const delegate = makeDelegate(stoa, undefined, shared)
  let returned: unknown
  loader.attribute(info.fullname, () => {
    returned = plugin.call(delegate, options)
  })
  // A plugin may name itself by returning `{ name }` or a string; its init action then
  // follows that name.
  const declared = typeof returned === 'string' ? returned : (returned as { name?: unknown } | undefined)?.name
  const initName = typeof declared === 'string' ? declared : name
  const init = stoa.has({ init: initName })
    ? async () => {
        await stoa.act({ init: initName })
      }
    : undefined
  loader.record(info, init)
}

function makeDelegate(stoa: SenecaHost, ctx: Context | undefined, shared: Message): SenecaDelegate {
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) =>
    stoa.log[level]({ args: args.map((a) => (a instanceof Error ? a.message : a)) }, 'seneca plugin')
  const self: SenecaDelegate = {
    add(pattern, second, third) {
      const action = (typeof second === 'function' ? second : third) as SenecaAction | undefined
      const extra = typeof second === 'object' ? second : undefined
      if (typeof action !== 'function') throw new StoaError('INVALID_PLUGIN', 'seneca add() needs an action function')
      stoa.add(toMessage(pattern, extra), toStoaAction(stoa, action, shared))
      return self
    },
    act(pattern, second, third) {
      const done = (typeof second === 'function' ? second : third) as Reply | undefined
      const extra = typeof second === 'object' ? second : undefined
      const msg = toMessage(pattern, extra)
      const call = ctx === undefined ? stoa.act(msg) : ctx.act(msg)
      settle(stoa, call, done, self)
      return self
    },
    prior(msg, reply) {
      if (ctx === undefined) throw new StoaError('INVALID_PLUGIN', 'seneca prior() can only be called inside an action')
      settle(stoa, ctx.prior(msg), reply, self)
    },
    wrap(pin, action) {
      for (const found of stoa.list(pin)) {
        if (found.transport === undefined) stoa.add(found.pattern, toStoaAction(stoa, action, shared))
      }
      return self
    },
    use(plugin, options) {
      stoa.use(plugin, options)
      return self
    },
    has: (pattern) => stoa.has(pattern),
    find: (pattern) => stoa.find(pattern),
    list: (pattern) => stoa.list(pattern).map((a) => ({ ...a.pattern })),
    ready(done) {
      stoa.ready().then(
        () => done?.call(self),
        (err: unknown) => done?.call(self, err),
      )
      return self
    },
    options: () => ({}),
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), fatal: log('error') },
    context: shared,
  }
  return self
}

function toStoaAction(stoa: SenecaHost, action: SenecaAction, shared: Message) {
  return (msg: Message, ctx: Context): Promise<unknown> =>
    new Promise((resolve, reject) => {
      let replied = false
      const reply: Reply = function (err?: unknown, out?: unknown) {
        if (replied) return
        replied = true
        if (err instanceof Error) reject(err)
        else if (err !== null && err !== undefined && arguments.length === 1) resolve(err)
        else if (err !== null && err !== undefined) reject(new StoaError('ACTION_FAILED', String(err)))
        else resolve(out)
      }
      // A synchronous throw inside the executor rejects the promise, like any action's throw.
      action.call(makeDelegate(stoa, ctx, shared), msg, reply, { pattern: ctx.pattern, id: ctx.id, tx: ctx.trace })
    })
}

/** Calls a Seneca callback with the outcome; a throwing callback is logged, never lost. */
function settle(stoa: SenecaHost, call: Promise<unknown>, done: Reply | undefined, self: SenecaDelegate): void {
  call.then(
    (out) => invoke(stoa, done, self, null, out),
    (err: unknown) => {
      if (done === undefined) stoa.log.warn({ err }, 'seneca act without callback failed')
      else invoke(stoa, done, self, err, undefined)
    },
  )
}

function invoke(stoa: SenecaHost, done: Reply | undefined, self: SenecaDelegate, err: unknown, out: unknown): void {
  if (done === undefined) return
  try {
    done.call(self, err, out)
  } catch (thrown) {
    stoa.log.error({ err: thrown }, 'seneca callback threw')
  }
}
