import type { Context } from '../context.js'
import { StoaError } from '../errors.js'
import type { Message } from '../pattern.js'
import { toMessage } from '../pattern.js'
import type { PluginLoader } from '../plugin.js'
import type { SenecaHost, SenecaPlugin } from './host.js'

/** Seneca's callback convention: `reply(err, out)`. */
type Reply = (err?: unknown, out?: unknown) => void
type SenecaAction = (this: SenecaDelegate, msg: Message, reply: Reply, meta?: unknown) => void
/**
 * The part of Seneca's plugin API the built-in delegate gives, as Seneca gives it (except that
 * errors reaching callbacks are StoaErrors). A plugin that uses nothing else can run on the
 * delegate (the `'stoa'` engine): its actions are plain stoa actions, at stoa's speed. Any other
 * API needs a real Seneca instance (bridge.ts).
 */
export const DELEGATE_API: ReadonlySet<string> = new Set([
  'add',
  'act',
  'prior',
  'wrap',
  'use',
  'ready',
  'log',
  'context',
])

/**
 * Runs a Seneca plugin on the delegate: its definition is called now, on a small object over
 * the kernel that gives {@link DELEGATE_API}; each `add` becomes a plain kernel action, and an
 * `init:<name>` action runs in the kernel's `ready()`.
 */
export function runOnDelegate(
  host: SenecaHost,
  loader: PluginLoader,
  plugin: SenecaPlugin,
  name: string,
  options: Message,
  tag: string | undefined,
): void {
  const info = loader.claim(name, tag)
  const shared: Message = {}
  const delegate = makeDelegate(host, undefined, shared)
  let returned: unknown
  loader.attribute(info.fullname, () => {
    returned = plugin.call(delegate, options)
  })
  // A plugin may name itself by returning `{ name }` or a string; its init action then
  // follows that name.
  const declared = typeof returned === 'string' ? returned : (returned as { name?: unknown } | undefined)?.name
  const initName = typeof declared === 'string' ? declared : name
  const init = host.has({ init: initName })
    ? async () => {
        await host.act({ init: initName })
      }
    : undefined
  loader.record(info, init)
}

/** The `this` a delegate-run plugin or action sees: {@link DELEGATE_API}, as Seneca gives it. */
interface SenecaDelegate {
  add(pattern: string | Message, second?: Message | SenecaAction, third?: SenecaAction): SenecaDelegate
  act(pattern: string | Message, second?: Message | Reply, third?: Reply): SenecaDelegate
  prior(msg: Message, reply?: Reply): void
  wrap(pin: string | Message, action: SenecaAction): SenecaDelegate
  use(plugin: SenecaPlugin, options?: Message): SenecaDelegate
  ready(done?: (err?: unknown) => void): SenecaDelegate
  log: Record<'debug' | 'info' | 'warn' | 'error' | 'fatal', (...args: unknown[]) => void>
  context: Message
}

function makeDelegate(host: SenecaHost, ctx: Context | undefined, shared: Message): SenecaDelegate {
  const log =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) =>
      host.log[level]({ args: args.map((a) => (a instanceof Error ? a.message : a)) }, 'seneca plugin')
  const self: SenecaDelegate = {
    add(pattern, second, third) {
      const action = (typeof second === 'function' ? second : third) as SenecaAction | undefined
      const extra = typeof second === 'object' ? second : undefined
      if (typeof action !== 'function') throw new StoaError('INVALID_PLUGIN', 'seneca add() needs an action function')
      host.add(toMessage(pattern, extra), toStoaAction(host, action, shared))
      return self
    },
    act(pattern, second, third) {
      const done = (typeof second === 'function' ? second : third) as Reply | undefined
      const extra = typeof second === 'object' ? second : undefined
      const msg = toMessage(pattern, extra)
      const call = ctx === undefined ? host.act(msg) : ctx.act(msg)
      settle(host, call, done, self)
      return self
    },
    prior(msg, reply) {
      if (ctx === undefined) throw new StoaError('INVALID_PLUGIN', 'seneca prior() can only be called inside an action')
      settle(host, ctx.prior(msg), reply, self)
    },
    wrap(pin, action) {
      for (const found of host.list(pin)) {
        if (found.transport === undefined) host.add(found.pattern, toStoaAction(host, action, shared))
      }
      return self
    },
    use(plugin, options) {
      host.use(plugin, options)
      return self
    },
    ready(done) {
      host.ready().then(
        () => done?.call(self),
        (err: unknown) => done?.call(self, err),
      )
      return self
    },
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), fatal: log('error') },
    context: shared,
  }
  return self
}

function toStoaAction(host: SenecaHost, action: SenecaAction, shared: Message) {
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
      action.call(makeDelegate(host, ctx, shared), msg, reply, { pattern: ctx.pattern, id: ctx.id, tx: ctx.trace })
    })
}

/** Calls a Seneca callback with the outcome; a throwing callback is logged, never lost. */
function settle(host: SenecaHost, call: Promise<unknown>, done: Reply | undefined, self: SenecaDelegate): void {
  call.then(
    (out) => invoke(host, done, self, null, out),
    (err: unknown) => {
      if (done === undefined) host.log.warn({ err }, 'seneca act without callback failed')
      else invoke(host, done, self, err, undefined)
    },
  )
}

function invoke(host: SenecaHost, done: Reply | undefined, self: SenecaDelegate, err: unknown, out: unknown): void {
  if (done === undefined) return
  try {
    done.call(self, err, out)
  } catch (thrown) {
    host.log.error({ err: thrown }, 'seneca callback threw')
  }
}
