import { createRequire } from 'node:module'
import type { Context } from '../context.js'
import { StoaError } from '../errors.js'
import type { Message } from '../pattern.js'
import { parsePattern, patternString, toPattern } from '../pattern.js'
import type { PluginLoader } from '../plugin.js'
import type { SenecaHost, SenecaPlugin, SenecaSettings } from './host.js'
import { FUNCTION_PROPS } from './scan.js'

/*
 * The Seneca bridge: plugins that use more of Seneca than the delegate (delegate.ts) gives
 * (`this.util`, entities, `export`, `preload`, seneca-promisify's `message`...) run inside a
 * real Seneca instance, one per kernel, loaded from the application's own `seneca` package the
 * first time such a plugin is used. Every pattern they add is registered in the kernel, so stoa
 * callers and transports reach them; an act they make that Seneca cannot answer comes back to
 * the kernel through a catch-all action, so they call stoa actions too. Identity token, trace
 * and deadline ride along in Seneca's `custom$` (which Seneca passes on to nested acts) and
 * `tx$`, and back: a nested act continues the stoa call that led into Seneca.
 */

/** Seneca's reply callback. */
type SenecaReply = (err: unknown, out?: unknown) => void

/** Seneca's per-call metadata: the fields the bridge reads. */
interface SenecaMeta {
  readonly tx?: string
  readonly local?: boolean
  readonly custom?: { readonly stoa?: CallRecord } | null
}

type SenecaAction = (this: SenecaInstance, msg: Message, reply: SenecaReply, meta: SenecaMeta) => void

/** The part of a Seneca 3 instance the bridge uses. */
interface SenecaInstance {
  add(pattern: Message, action: SenecaAction): SenecaInstance
  act(msg: Message, reply: SenecaReply): SenecaInstance
  use(plugin: unknown, options?: unknown): SenecaInstance
  ready(done: (err?: unknown) => void): SenecaInstance
  close(done: (err?: unknown) => void): SenecaInstance
  prior(msg: Message, reply: SenecaReply): void
  /** The action a message would run: the catch-all's pattern is `''`. */
  find(msg: Message, flags?: { exact?: boolean }): { readonly pattern: string; readonly func?: unknown } | undefined
  /** The patterns added, as objects; those holding `pin`'s pairs when given. */
  list(pin?: unknown): Message[]
  readonly util: { Jsonic(text: string): Message }
}

/** What travels in `custom$.stoa` from a kernel call into Seneca. */
interface CallRecord {
  /** Key of the kernel call in {@link Bridge.calls}. */
  readonly call: string
  readonly trace: string
  readonly token: string | undefined
  readonly deadline: number
}

interface Bridge {
  readonly seneca: SenecaInstance
  /** Patterns (canonical strings) the bridge has registered in the kernel. */
  readonly routed: Set<string>
  /** The Seneca plugins (full names) whose actions the kernel reaches through the bridge. */
  readonly plugins: Set<string>
  /** Kernel calls running inside Seneca, by key: the acts they make continue them. */
  readonly calls: Map<string, Context>
  /** The first fatal error Seneca reported (a plugin that failed to start). */
  fatal: unknown
  /** Rejects the kernel's start as soon as a plugin definition throws. */
  failed: ((err: unknown) => void) | undefined
}

/** Seneca's error codes that have a stoa counterpart. */
const SENECA_CODES: Readonly<Record<string, 'NOT_FOUND' | 'TIMEOUT' | 'INVALID_MESSAGE'>> = {
  act_not_found: 'NOT_FOUND',
  act_timeout: 'TIMEOUT',
  action_timeout: 'TIMEOUT',
  act_invalid_msg: 'INVALID_MESSAGE',
}

/** The key of an instance's bridge in its plugin loader's state. */
const BRIDGE = Symbol('seneca bridge')

/**
 * Loads a Seneca plugin into the kernel's Seneca instance (created on first use) and routes
 * the patterns it adds. Fails now, with `INVALID_PLUGIN`, when `seneca` is not installed
 * (naming the APIs the plugin needs) and for Seneca 1's two-argument plugins; a definition
 * that throws fails the kernel's `ready()`, naming the plugin.
 */
export function loadSenecaPlugin(
  host: SenecaHost,
  loader: PluginLoader,
  settings: SenecaSettings,
  plugin: SenecaPlugin,
  name: string,
  why: { readonly reason: string; readonly needs: readonly string[] },
  options: Message,
  tag: string | undefined,
): void {
  if (plugin.length > 1) {
    throw new StoaError(
      'INVALID_PLUGIN',
      `plugin "${name}" has Seneca 1's (options, register) signature, which Seneca 3 no longer loads`,
      {
        plugin: name,
        missing: ['register'],
      },
    )
  }
  const bridge = loader.state(BRIDGE, () => createBridge(host, loader, settings, name, why))
  const info = loader.claim(name, tag)
  // Seneca 3 defines a plugin asynchronously, and a definition that throws leaves its define
  // action pending until Seneca's 22 s timeout, then reports a fatal error (and holds close()
  // as long). The wrapper keeps the throw from Seneca and fails the kernel's ready() at once,
  // naming the plugin; a kernel whose start failed serves nothing.
  let defineError: unknown
  const define = function (this: unknown, opts: unknown): unknown {
    try {
      return plugin.call(this, opts)
    } catch (err) {
      defineError = err
      bridge.failed?.(err)
      return undefined
    }
  }
  Object.defineProperty(define, 'name', { value: name })
  // Seneca reads `preload`, `defaults` and more off the definition function.
  for (const prop of Object.getOwnPropertyNames(plugin)) {
    if (!FUNCTION_PROPS.has(prop))
      (define as unknown as Record<string, unknown>)[prop] = (plugin as unknown as Record<string, unknown>)[prop]
  }
  bridge.seneca.use(tag === undefined ? define : { name, tag, define }, options)
  loader.record(info, () => startBridge(bridge, info.fullname, () => defineError))
}

function createBridge(
  host: SenecaHost,
  loader: PluginLoader,
  settings: SenecaSettings,
  name: string,
  why: { readonly reason: string; readonly needs: readonly string[] },
): Bridge {
  let Seneca: (options: object) => SenecaInstance
  try {
    Seneca = createRequire(import.meta.url)('seneca') as typeof Seneca
  } catch (err) {
    throw new StoaError(
      'INVALID_PLUGIN',
      `plugin "${name}" needs real Seneca (${why.reason}), ` +
        'and seneca is not installed: install seneca 3 (npm install seneca@3)',
      { plugin: name, missing: [...why.needs] },
      { cause: err },
    )
  }
  let bridge: Bridge | undefined
  const seneca = Seneca({
    log: 'silent',
    // The stoa instance's settings that Seneca has too (docs/seneca.md lists them): a plugin
    // reading `seneca.options()` (its own timeouts from `timeout`, say) sees the instance it
    // runs in, not Seneca's defaults (22222 ms, tag '-').
    timeout: settings.timeoutMs,
    tag: settings.name,
    // A failing plugin must fail the kernel's ready(), not end the process: Seneca's default
    // for a fatal error is to end the process.
    // Seneca reads `--seneca.*` arguments and SENECA_* variables unless given its own: the
    // command line is stoa's, and a SENECA_LOG would print Seneca's log over `stoa act`'s output.
    debug: { undead: true, argv: [], env: {} },
    // The kernel has already drained its own calls when it closes Seneca.
    close_delay: 1000,
    system: { exit: () => undefined },
    errhandler: (err: { fatal$?: boolean } | undefined) => {
      if (err?.fatal$ !== true || bridge === undefined) return
      bridge.fatal ??= err
      bridge.failed?.(err)
      host.log.error({ err }, 'seneca reported a fatal error')
    },
  })
  // Every pattern a plugin adds is routed from the kernel as it is added. Seneca's list() would
  // not do: it leaves glob patterns out.
  const add = seneca.add
  seneca.add = function (this: SenecaInstance, ...args: unknown[]) {
    const out = add.apply(this, args as Parameters<SenecaInstance['add']>)
    if (bridge !== undefined) route(host, loader, bridge, args)
    return out
  }
  // The catch-all: whatever no Seneca pattern matches goes to the kernel. Registered before
  // any plugin, it is also the prior of every pattern with none in Seneca.
  const catchAll: SenecaAction = function (this: SenecaInstance, msg, reply, meta) {
    fallback(this, host, bridge!, msg, reply, meta)
  }
  seneca.add({}, catchAll)
  // The catch-all is stoa's plumbing, not an action of the plugins: Seneca's list() (and what
  // lists through it: seneca-doc's describe:pin, a Seneca listener's pins) leaves it out, as
  // real Seneca, which has no action on the empty pattern, would. A plugin's own action on the
  // empty pattern is still listed.
  const list = seneca.list
  seneca.list = function (this: SenecaInstance, ...args: unknown[]) {
    const listed = list.apply(this, args as [unknown])
    const ours = (pat: Message) => Object.keys(pat).length === 0 && this.find({}, { exact: true })?.func === catchAll
    return listed.filter((pat) => !ours(pat))
  }
  bridge = { seneca, routed: new Set(), plugins: new Set(), calls: new Map(), fatal: undefined, failed: undefined }
  host.onClose(() => new Promise<void>((resolve) => void seneca.close(() => resolve())))
  return bridge
}

/**
 * Registers in the kernel the pattern of one Seneca `add`: the pairs of its pattern string and
 * objects, without Seneca's directives (`deprecate$`) and rules (`pin: { required$: true }`).
 */
function route(host: SenecaHost, loader: PluginLoader, bridge: Bridge, args: readonly unknown[]): void {
  const pairs: Message = {}
  // An add made on the root instance (seneca-entity's translations) has no plugin record.
  let owner = 'seneca'
  for (const arg of args) {
    if (typeof arg === 'function') {
      const actdef = args[args.length - 1] as { plugin_fullname?: unknown } | undefined
      if (actdef !== null && typeof actdef === 'object' && typeof actdef.plugin_fullname === 'string')
        owner = actdef.plugin_fullname
      break
    }
    const part = typeof arg === 'string' ? bridge.seneca.util.Jsonic(arg) : (arg as Message | null)
    if (part === null || typeof part !== 'object') continue
    for (const [k, v] of Object.entries(part)) {
      if (!k.endsWith('$') && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) pairs[k] = v
    }
  }
  // Plugins' init actions, Seneca's plugin bookkeeping, close hooks and its built-in transport
  // plugin stay inside Seneca.
  if (
    Object.keys(pairs).length === 0 ||
    'init' in pairs ||
    pairs.role === 'seneca' ||
    pairs.sys === 'seneca' ||
    pairs.role === 'transport'
  )
    return
  const pattern = toPattern(pairs)
  const key = patternString(pattern)
  if (bridge.routed.has(key)) return
  bridge.routed.add(key)
  bridge.plugins.add(owner)
  loader.attribute(owner, () => host.add(pattern, (msg, ctx) => callSeneca(bridge, msg, ctx)))
}

function startBridge(bridge: Bridge, fullname: string, defineError: () => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      bridge.failed = undefined
      reject(new StoaError('INVALID_PLUGIN', `seneca: ${errorText(err)}`, { plugin: fullname }, { cause: err }))
    }
    const early = defineError() ?? bridge.fatal
    if (early !== undefined) return fail(early)
    bridge.failed = fail
    bridge.seneca.ready((err) => {
      if (bridge.failed !== fail) return
      bridge.failed = undefined
      const failed = err ?? bridge.fatal
      if (failed !== undefined && failed !== null) fail(failed)
      else resolve()
    })
  })
}

/** A kernel call into Seneca: the message, plus the call's identity, trace and time left. */
function callSeneca(bridge: Bridge, msg: Message, ctx: Context): Promise<unknown> {
  const record: CallRecord = { call: ctx.id, trace: ctx.trace, token: ctx.token, deadline: ctx.deadline }
  bridge.calls.set(record.call, ctx)
  const senecaMsg = Object.assign({}, msg, {
    custom$: { stoa: record },
    tx$: record.trace,
    timeout$: Math.max(1, record.deadline - Date.now()),
  })
  return new Promise((resolve, reject) => {
    bridge.seneca.act(senecaMsg, (err, out) => {
      bridge.calls.delete(record.call)
      if (err === null || err === undefined) resolve(out)
      else reject(fromSeneca(err))
    })
  })
}

/**
 * Seneca's catch-all: an act no Seneca pattern matches goes to the kernel, as a continuation of
 * the kernel call that led into Seneca (same trace, identity and deadline) when there is one.
 */
function fallback(
  seneca: SenecaInstance,
  host: SenecaHost,
  bridge: Bridge,
  msg: Message,
  reply: SenecaReply,
  meta: SenecaMeta,
): void {
  // Seneca's own messages (a plugin's init when it has none) get Seneca's default answer.
  if (meta?.local === true || msg.local$ === true) {
    seneca.prior(msg, reply)
    return
  }
  const clean: Message = {}
  for (const key of Object.keys(msg)) if (!key.endsWith('$')) clean[key] = msg[key]
  const record = meta?.custom?.stoa
  const ctx = record === undefined ? undefined : bridge.calls.get(record.call)
  const own = bridge.seneca.find(clean)
  if (own !== undefined && own.pattern !== '') {
    // `this.prior` from a Seneca action with no earlier action in Seneca: its prior is the
    // kernel action its pattern overrode, if the kernel call came in through that pattern.
    if (ctx !== undefined && samePairs(parsePattern(ctx.pattern), bridge.seneca.util.Jsonic(own.pattern)))
      answer(ctx.prior(clean), reply)
    else reply(null, msg.default$ ?? null)
    return
  }
  const target = host.find(clean)
  // A pattern the bridge itself routes would lead back here.
  if (
    target === undefined ||
    (target.transport === undefined && target.plugin !== undefined && bridge.plugins.has(target.plugin))
  ) {
    // As Seneca answers a message nothing matches: its default$ if it has one, else an
    // act_not_found error that Seneca passes on unwrapped (it carries `seneca: true`).
    if (msg.default$ !== undefined) reply(null, msg.default$)
    else
      reply(
        Object.assign(new Error(`seneca: no action matches ${describe(clean)}`), {
          code: 'act_not_found',
          seneca: true,
        }),
      )
    return
  }
  if (ctx !== undefined) {
    answer(ctx.act(clean), reply)
    return
  }
  // The kernel call has ended (a Seneca action acting after replying): carry what it sent.
  const timeoutMs = record === undefined ? undefined : Math.max(1, record.deadline - Date.now())
  answer(
    host.act(clean, undefined, { trace: record?.trace ?? meta?.tx, token: record?.token, timeoutMs, caller: 'seneca' }),
    reply,
  )
}

function answer(work: Promise<unknown>, reply: SenecaReply): void {
  work.then(
    (out) => reply(null, out),
    (err: unknown) => reply(err),
  )
}

/** A Seneca error as the kernel's: a StoaError that crossed Seneca keeps its code. */
function fromSeneca(err: unknown): unknown {
  const e = err as { orig?: unknown; code?: unknown; message?: unknown }
  if (e.orig instanceof StoaError) return e.orig
  if (err instanceof StoaError) return err
  const mapped = typeof e.code === 'string' ? SENECA_CODES[e.code] : undefined
  if (mapped !== undefined) return new StoaError(mapped, `seneca answered ${e.code as string}`, { seneca: e.code })
  // Anything else is the action's own failure: the kernel logs it and answers ACTION_FAILED.
  return e.orig instanceof Error ? e.orig : err
}

/** Whether two patterns have the same pairs, values compared as Seneca compares them: as text. */
function samePairs(a: Message, b: Message): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => k in b && String(a[k]) === String(b[k]))
}

/** The pairs of a message that could name a pattern, as `key:value` sorted by key. */
function describe(msg: Message): string {
  return Object.keys(msg)
    .filter((k) => ['string', 'number', 'boolean'].includes(typeof msg[k]))
    .sort()
    .map((k) => `${k}:${String(msg[k])}`)
    .join(',')
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
