import type { Context } from './context.js'
import { StoaError } from './errors.js'
import type { Message } from './pattern.js'
import { toMessage } from './pattern.js'
import type { PluginLoader } from './plugin.js'
import { FUNCTION_PROPS, loadSenecaPlugin } from './seneca-bridge.js'
import type { SenecaHost, SenecaPlugin } from './seneca-host.js'

export type { SenecaHost, SenecaPlugin } from './seneca-host.js'

/** Seneca's callback convention: `reply(err, out)`. */
type Reply = (err?: unknown, out?: unknown) => void
type SenecaAction = (this: SenecaDelegate, msg: Message, reply: Reply, meta?: unknown) => void
/**
 * The part of Seneca's plugin API the built-in delegate gives, as Seneca gives it (except that
 * errors reaching callbacks are StoaErrors). A plugin that uses nothing else runs on the
 * delegate: its actions are plain stoa actions, at stoa's speed. Any other API sends the plugin
 * to a real Seneca instance (seneca-bridge.ts).
 */
const DELEGATE_API: ReadonlySet<string> = new Set(['add', 'act', 'prior', 'wrap', 'use', 'ready', 'log', 'context'])

let anonymous = 0

/** Plugins marked with {@link onSeneca}. */
const marked = new WeakSet<SenecaPlugin>()

/**
 * Marks a Seneca plugin to run on real Seneca even though the built-in delegate could run it:
 * its actions then follow Seneca's own rules, such as Seneca's precedence among glob patterns.
 * Needs `seneca` installed.
 *
 * @example
 * stoa.use(onSeneca(require('./legacy-router.js')))
 */
export function onSeneca<P extends SenecaPlugin>(plugin: P): P {
  marked.add(plugin)
  return plugin
}

/**
 * Runs a Seneca plugin unchanged. A plugin written as Seneca's guides write them (`this.add`,
 * `this.act`, `this.prior`, `this.wrap`, nested `this.use`, an `init:<name>` action) runs on a
 * small delegate over the kernel. A plugin that reaches for more of Seneca (`this.util`,
 * `this.make$`, `this.export`, `preload`, `defaults`, ...) is loaded into a real Seneca
 * instance, shared by the kernel's Seneca plugins, whose patterns the kernel then routes to;
 * without `seneca` installed that fails here, naming the API the plugin needs. Seneca's
 * conventions stay in this file and seneca-bridge.ts; the rest of stoa never sees them.
 */
export function runSenecaPlugin(
  host: SenecaHost,
  loader: PluginLoader,
  plugin: SenecaPlugin,
  options: Message,
  tag: string | undefined,
): void {
  const name = plugin.name !== '' ? plugin.name : `plugin${++anonymous}`
  const needs = marked.has(plugin) ? ['onSeneca'] : senecaApisBeyondDelegate(plugin)
  if (needs.length > 0) {
    loadSenecaPlugin(host, loader, plugin, name, needs, options, tag)
    return
  }
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

/**
 * The Seneca APIs a plugin uses that the delegate lacks, read from its source: members of
 * `this`, of `seneca`, and of any variable assigned `this` (`var self = this`), including
 * destructured ones; plus properties Seneca reads off the plugin function (`preload`,
 * `defaults`), exports in its returned definition, loading plugins by name, the instance
 * handed to other functions, and any `name$` (directives, entity methods). Reading too much only costs speed (the plugin then runs on real
 * Seneca), never a wrong answer. What a source scan cannot see (a helper module handed the
 * instance, `this[name]`) is listed in docs/seneca.md.
 */
export function senecaApisBeyondDelegate(plugin: SenecaPlugin): string[] {
  const found = new Set<string>()
  for (const prop of Object.getOwnPropertyNames(plugin)) if (!FUNCTION_PROPS.has(prop)) found.add(prop)
  const src = Function.prototype.toString.call(plugin)
  const aliases = new Set(['this', 'seneca'])
  for (const m of src.matchAll(/\b(?:var|let|const)?\s*([A-Za-z_$][\w$]*)\s*=\s*this\b/g)) aliases.add(m[1]!)
  const names = [...aliases].map((a) => a.replace(/\$/g, '\\$')).join('|')
  const member = new RegExp(
    `(?<![\\w$.])(?:${names})\\s*\\??\\.\\s*([A-Za-z_$][\\w$]*)|(?<![\\w$.])(?:${names})\\s*\\[\\s*['"\`]([^'"\`]+)['"\`]\\s*\\]`,
    'g',
  )
  for (const m of src.matchAll(member)) {
    const api = m[1] ?? m[2]!
    if (!DELEGATE_API.has(api)) found.add(api)
  }
  const destructured = new RegExp(`\\{([^{}]*)\\}\\s*=\\s*(?:${names})\\b`, 'g')
  for (const m of src.matchAll(destructured)) {
    for (const part of m[1]!.split(',')) {
      const api = part.split(':')[0]!.trim()
      if (api !== '' && !DELEGATE_API.has(api)) found.add(api)
    }
  }
  // The instance handed to other code (`register(this)`, `helper(seneca, opts)`): what that
  // code uses cannot be read from here, so the plugin runs where everything is there.
  if (new RegExp(`[(,]\\s*(?:${names})\\s*[,)]`).test(src)) found.add('this passed to a function')
  // A plugin loaded by name is found by Seneca's own module resolution.
  if (new RegExp(`(?<![\\w$.])(?:${names})\\s*\\.\\s*use\\s*\\(\\s*['"\`]`).test(src)) found.add('use(name)')
  if (/\bexportmap\b|\bexport\s*:/.test(src)) found.add('export')
  // Seneca's directives (`default$`, `timeout$`, `custom$`) and entity methods (`save$`) mean
  // nothing to the kernel.
  for (const m of src.matchAll(/(?<![\w$])([A-Za-z_][\w]*\$)(?![\w$])/g)) found.add(m[1]!)
  return [...found]
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
