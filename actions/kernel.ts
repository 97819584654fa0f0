import type { CallMeta, CallOptions, ContextHost } from './context.js'
import { Context, newId } from './context.js'
import type { Envelope, EnvelopeMeta, Reply } from './envelope.js'
import type { Linked } from './inflight.js'
import { InFlight } from './inflight.js'
import { StoaError, toStoaError } from './errors.js'
import type { Logger } from './logger.js'
import { createLogger } from './logger.js'
import { assertEventName, assertEventSubscription, assertTaskName, matchesSubscription } from './names.js'
import type { Message, Pattern } from './pattern.js'
import { describeMessage, mergeMessages, patternString, toMessage, toPattern } from './pattern.js'
import type {
  Action,
  ActionDef,
  ActionLike,
  ActionOptions,
  ActionTypes,
  CloseHook,
  Plugin,
  PluginHost,
  PluginInfo,
  TypesOf,
  UseArgs,
  UseOptions,
} from './plugin.js'
import { isPlugin, validateOptions } from './plugin.js'
import type { Route } from './router.js'
import { Router } from './router.js'
import type { Schema } from './schema.js'
import { validate } from './schema.js'
import { runSenecaPlugin } from './seneca.js'
import type { Transport, TransportClient, TransportHost } from './transport.js'

/** Options for {@link createStoa}. */
export interface StoaOptions {
  /** The service's name: how callers and transports address it. Default `stoa`. */
  name?: string
  /** Default time limit of a call, ms. Default 30 000. */
  timeoutMs?: number
  /** How long `close()` waits for in-flight work, ms. Default 10 000. */
  graceMs?: number
  /** Where stoa logs; a pino logger fits. Default: JSON lines on stderr, warnings and up. */
  logger?: Logger
}

/** What `list` and `find` tell about a registered action. */
export interface ActionInfo {
  readonly pattern: Pattern
  /** The canonical pattern string. */
  readonly key: string
  /** The plugin that added it, if any. */
  readonly plugin: string | undefined
  readonly permission: string | undefined
  readonly description: string | undefined
  readonly schema: Schema | undefined
  /** The transport that serves it, for an action reached through a client. */
  readonly transport: string | undefined
}

interface Entry {
  readonly pattern: Pattern
  readonly key: string
  /** The pattern's keys, listed once for the per-call merge after validation. */
  readonly keys: readonly string[]
  readonly fn: Action<any, unknown> | undefined
  readonly schema: Schema | undefined
  readonly permission: string | undefined
  readonly description: string | undefined
  readonly timeoutMs: number | undefined
  readonly plugin: string | undefined
  readonly prior: Entry | undefined
  readonly remote: { client: TransportClient; transport: string } | undefined
}

interface Subscription {
  readonly name: string
  readonly handler: Action<Message, unknown>
  readonly plugin: string | undefined
}

/** An act waiting on an asynchronous action, watched for its deadline. */
interface Pending extends Linked<Pending> {
  readonly deadline: number
  readonly key: string
  readonly reject: (err: StoaError) => void
}

interface LoadedPlugin {
  readonly info: PluginInfo
  readonly init: (() => Promise<void | CloseHook>) | undefined
}

type Phase = 'starting' | 'running' | 'closing' | 'closed'

/** Metadata of a task or event: everything fixed, as it will travel. */
type FixedMeta = EnvelopeMeta & { deadline: number; timeoutMs: number }

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_GRACE_MS = 10_000
/** Calls in one event-loop turn between two reads of the clock (see `now()`). */
const CLOCK_EVERY = 32
/** The longest delay setTimeout keeps: 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The arguments of `act` for a pattern string: typed when the kernel knows the pattern. */
type ActArgs<T extends ActionTypes, P extends string> = P extends keyof T
  ? {} extends T[P]['in']
    ? [msg?: T[P]['in'], opts?: CallOptions]
    : [msg: T[P]['in'], opts?: CallOptions]
  : [msg?: Message, opts?: CallOptions]

/** The result of `act` for a pattern string. */
type ActResult<T extends ActionTypes, P> = P extends keyof T ? T[P]['out'] : unknown

/**
 * A stoa instance: the actions of one service, the plugins that bring them, and the transports
 * it listens and calls through. `T` records the typed actions it knows, so `act` on a known
 * pattern checks its message and infers its result.
 */
export class Stoa<T extends ActionTypes = {}> implements ContextHost, PluginHost {
  /** The service's name. */
  readonly name: string
  /** Where this instance logs. */
  readonly log: Logger
  private readonly timeoutMs: number
  private readonly graceMs: number
  /** Every action, local or reached through a client: what `act` looks up. */
  private readonly routes = new Router<Entry>()
  /** Local actions only: what a transport's incoming requests look up. */
  private readonly local = new Router<Entry>()
  private readonly subscriptions: Subscription[] = []
  private readonly plugins = new Map<string, LoadedPlugin>()
  private readonly closeHooks: CloseHook[] = []
  private readonly listeners: { transport: Transport; pins: Pattern[] }[] = []
  private readonly clients: { transport: Transport; pins: Pattern[]; client: TransportClient | undefined }[] = []
  private readonly transports: Transport[] = []
  private readonly toStart: (() => Promise<void>)[] = []
  private phase: Phase = 'running'
  private starting: Promise<void> | undefined
  private startError: unknown
  private readonly pending = new InFlight<Pending>()
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private timerRefed = false
  private turnStart = 0
  private turnCalls = 0
  private inTurn = false
  private drained: (() => void) | undefined
  private currentPlugin: string | undefined
  private readonly host: TransportHost

  /** @internal use {@link createStoa} */
  constructor(options: StoaOptions = {}) {
    this.name = options.name ?? 'stoa'
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS
    this.log = options.logger ?? createLogger()
    const self = this
    this.host = {
      service: this.name,
      log: this.log,
      get closing() {
        return self.phase === 'closing' || self.phase === 'closed'
      },
      dispatch: (e) => this.dispatch(e),
      answers: (msg) => this.local.find(msg) !== undefined,
      tasks: () => this.taskNames(),
      subscriptions: () => [...new Set(this.subscriptions.map((s) => s.name))],
    }
  }

  // ---------------------------------------------------------------- registration

  /**
   * Registers an action under a pattern. Registering the same pattern again, or a more
   * specific one, wraps the earlier action, which the new one reaches with `ctx.prior()`.
   * Patterns with a `task` key are task handlers and must use a valid task name.
   *
   * @example
   * stoa.add('role:math,cmd:sum', (msg) => ({ answer: Number(msg.left) + Number(msg.right) }))
   */
  add<const P extends string, D extends ActionDef<any, any>>(pattern: P, action: D, options?: ActionOptions): Stoa<T & TypesOf<{ [K in P]: D }>>
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): this
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): this {
    const pat = toPattern(pattern as string)
    if ('task' in pat) assertTaskName(pat.task)
    const def: ActionOptions & { handler: Action<any, unknown> } =
      typeof action === 'function' ? { ...options, handler: action } : { ...action, ...options }
    if (typeof def.handler !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `action for "${patternString(pat)}" must be a function`)
    }
    this.register(pat, {
      fn: def.handler,
      schema: def.schema,
      permission: def.permission,
      description: def.description,
      timeoutMs: def.timeoutMs,
      remote: undefined,
    })
    return this
  }

  private register(pat: Pattern, parts: Omit<Entry, 'pattern' | 'key' | 'keys' | 'prior' | 'plugin'>): void {
    const key = patternString(pat)
    // The action this one overrides: the identical pattern if registered, else whatever the
    // pattern itself would have matched (a less specific action), as Seneca's prior does.
    const prior = this.routes.exact(pat)?.data ?? this.routes.find(pat)?.data
    const entry: Entry = { pattern: pat, key, keys: Object.keys(pat), prior, plugin: this.currentPlugin, ...parts }
    this.routes.add(pat, entry)
    if (entry.remote === undefined) this.local.add(pat, entry)
  }

  /**
   * Subscribes to an event. The name may hold `*` segments (`address.*`). Every subscription
   * of a service receives each event the service receives.
   *
   * @example
   * stoa.on('vote.recorded', async (msg, ctx) => { ... })
   */
  on(event: string, handler: Action<Message, unknown>): this {
    assertEventSubscription(event)
    this.subscriptions.push({ name: event, handler, plugin: this.currentPlugin })
    return this
  }

  /** Registers a hook run when the instance closes, after in-flight work has finished. */
  onClose(hook: CloseHook): this {
    this.closeHooks.push(hook)
    return this
  }

  /**
   * Loads a plugin: a `definePlugin` plugin, or a Seneca-style plugin function, which runs
   * unchanged. Options are validated now; a failure throws `INVALID_OPTIONS` naming the plugin
   * and option. `init` runs in `ready()`.
   *
   * @example
   * const app = createStoa().use(math, { precision: 2 })
   */
  use<P extends Plugin<string, any, any>>(plugin: P, ...args: UseArgs<P>): Stoa<T & PluginTypes<P>>
  use(plugin: (this: any, options: any) => unknown, options?: Record<string, unknown>, use?: UseOptions): this
  use(plugin: unknown, options?: unknown, use?: UseOptions): this {
    if (typeof plugin === 'function') {
      const loader = { claim: this.claimPlugin.bind(this), record: this.addPlugin.bind(this), attribute: this.withPlugin.bind(this) }
      runSenecaPlugin(this, loader, plugin as (this: unknown, options: unknown) => unknown, (options ?? {}) as Message, use?.tag)
      return this
    }
    if (!isPlugin(plugin)) {
      throw new StoaError('INVALID_PLUGIN', 'use() takes a plugin made with definePlugin or a Seneca-style plugin function')
    }
    const info = this.claimPlugin(plugin.name, use?.tag)
    for (const dep of plugin.dependencies) {
      if (!this.plugins.has(dep)) {
        throw new StoaError('INVALID_PLUGIN', `plugin "${info.fullname}" needs plugin "${dep}", which is not loaded; load it first`, {
          plugin: info.fullname,
          dependency: dep,
        })
      }
    }
    const opts = validateOptions(plugin, options)
    const actions = typeof plugin.actions === 'function' ? plugin.actions(opts as never, info) : plugin.actions
    const init = plugin.init
    this.withPlugin(info.fullname, () => {
      for (const [pattern, act] of Object.entries((actions ?? {}) as Record<string, ActionLike>)) this.add(pattern, act)
    })
    this.addPlugin(info, init === undefined ? undefined : async () => init(this, opts as never, info))
    return this
  }

  /** @internal reserves a plugin's full name; loading one twice needs a tag. */
  claimPlugin(name: string, tag: string | undefined): PluginInfo {
    const fullname = tag === undefined ? name : `${name}$${tag}`
    if (this.plugins.has(fullname)) {
      throw new StoaError('INVALID_PLUGIN', `plugin "${fullname}" is already loaded; load it again with a tag`, { plugin: fullname })
    }
    return { name, tag, fullname }
  }

  /** @internal records a loaded plugin and queues its init for `ready()`. */
  addPlugin(info: PluginInfo, init: (() => Promise<void | CloseHook>) | undefined): void {
    const loaded: LoadedPlugin = { info, init }
    this.plugins.set(info.fullname, loaded)
    if (info.tag !== undefined && !this.plugins.has(info.name)) this.plugins.set(info.name, loaded)
    if (init !== undefined) {
      this.toStart.push(async () => {
        let hook: void | CloseHook
        try {
          hook = await this.withPluginAsync(info.fullname, init)
        } catch (err) {
          const e = toStoaError(err)
          throw new StoaError(e.code === 'ACTION_FAILED' ? 'INVALID_PLUGIN' : e.code, `plugin "${info.fullname}" failed to start: ${errorText(err)}`, {
            plugin: info.fullname,
          }, { cause: err })
        }
        if (typeof hook === 'function') this.closeHooks.push(hook)
      })
      this.markStarting()
    }
  }

  /** @internal runs `fn` with actions attributed to plugin `name`. */
  withPlugin<R>(name: string, fn: () => R): R {
    const before = this.currentPlugin
    this.currentPlugin = name
    try {
      return fn()
    } finally {
      this.currentPlugin = before
    }
  }

  private async withPluginAsync<R>(name: string, fn: () => Promise<R>): Promise<R> {
    // Actions added synchronously at the start of init are attributed to the plugin; after its
    // first await they are not, which only affects `list()` output, never routing.
    const before = this.currentPlugin
    this.currentPlugin = name
    try {
      const p = fn()
      this.currentPlugin = before
      return await p
    } finally {
      this.currentPlugin = before
    }
  }

  /**
   * Listens on a transport: remote callers reach the local actions matching `pins` (all of
   * them by default), this service's tasks and its event subscriptions. Starts in `ready()`.
   */
  listen(transport: Transport, pins: readonly (string | Message)[] = []): this {
    if (typeof transport.listen !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `transport "${transport.name}" cannot listen`)
    }
    const entry = { transport, pins: pins.map((p) => toPattern(p as string)) }
    this.listeners.push(entry)
    this.addTransport(transport)
    this.toStart.push(() => transport.listen!(this.host, entry.pins))
    this.markStarting()
    return this
  }

  /**
   * Calls through a transport: acts matching `pins` go to it, and so do tasks for services
   * not handled here and every event. Starts in `ready()`.
   */
  client(transport: Transport, pins: readonly (string | Message)[] = []): this {
    if (typeof transport.client !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `transport "${transport.name}" has no client side`)
    }
    const patterns = pins.map((p) => toPattern(p as string))
    const slot: { transport: Transport; pins: Pattern[]; client: TransportClient | undefined } = {
      transport,
      pins: patterns,
      client: undefined,
    }
    this.clients.push(slot)
    this.addTransport(transport)
    // Routes exist at once, so a pinned act made before the client is up waits in ready()
    // rather than failing with NOT_FOUND.
    const remote = {
      transport: transport.name,
      client: {
        deliver: (e: Envelope) => (slot.client ?? unavailable(transport.name)).deliver(e),
      },
    }
    for (const pin of patterns) {
      this.register(pin, { fn: undefined, schema: undefined, permission: undefined, description: undefined, timeoutMs: undefined, remote })
    }
    this.toStart.push(async () => {
      slot.client = await transport.client!(patterns, this.host)
    })
    this.markStarting()
    return this
  }

  private addTransport(t: Transport): void {
    if (!this.transports.includes(t)) this.transports.push(t)
  }

  private markStarting(): void {
    if (this.phase === 'running' && this.starting === undefined) this.phase = 'starting'
  }

  /**
   * Starts everything loaded so far: plugin inits in loading order, then listeners and clients.
   * Acts made before `ready()` wait for it. Safe to call again after loading more.
   */
  ready(): Promise<this> {
    if (this.phase === 'closing' || this.phase === 'closed') return Promise.reject(closedError(this.name))
    // A failed start stays failed: later calls must not run on a half-started service.
    if (this.startError !== undefined) return Promise.reject(this.startError)
    if (this.starting === undefined) {
      if (this.toStart.length === 0) {
        this.phase = 'running'
        return Promise.resolve(this)
      }
      this.starting = (async () => {
        try {
          while (this.toStart.length > 0) await this.toStart.shift()!()
        } catch (err) {
          this.startError = err
          throw err
        } finally {
          this.starting = undefined
        }
        this.phase = 'running'
      })()
    }
    return this.starting.then(() => this)
  }

  // ---------------------------------------------------------------- calls

  /**
   * Runs the most specific action matching the message and resolves with its result.
   * `act('role:math,cmd:sum', { left: 1, right: 2 })`: the pattern string's pairs win over the
   * object's. Rejects with a `StoaError`: `NOT_FOUND`, `INVALID_MESSAGE`, `TIMEOUT`...
   *
   * @example
   * const out = await stoa.act('role:math,cmd:sum', { left: 1, right: 2 })
   */
  act<const P extends string>(pattern: P, ...args: ActArgs<T, P>): Promise<ActResult<T, P>>
  act(pattern: Message, extra?: Message, opts?: CallOptions): Promise<unknown>
  act(pattern: string | Message, extra?: any, opts?: CallOptions): Promise<any> {
    const phase = this.phase
    // While closing, in-flight work may still call in; only a closed instance refuses.
    if (phase !== 'running' && phase !== 'closing') return this.actLater(pattern, extra, opts)
    let msg: Message
    try {
      msg = toMessage(pattern, extra)
    } catch (err) {
      return Promise.reject(err)
    }
    const route = this.routes.find(msg)
    if (route === undefined) return Promise.reject(notFound(msg))
    const entry = route.data
    if (opts === undefined) {
      return this.run(entry, msg, { id: undefined, trace: undefined, deadline: undefined, timeoutMs: entry.timeoutMs ?? this.timeoutMs, token: undefined, caller: this.name })
    }
    return this.run(entry, msg, {
      id: opts.id,
      trace: opts.trace,
      deadline: undefined,
      timeoutMs: opts.timeoutMs ?? entry.timeoutMs ?? this.timeoutMs,
      token: opts.token,
      caller: opts.caller ?? this.name,
      headers: opts.headers,
    })
  }

  private actLater(pattern: string | Message, extra: Message | undefined, opts: CallOptions | undefined): Promise<unknown> {
    if (this.phase === 'closed') return Promise.reject(closedError(this.name))
    return this.ready().then(() => this.act(pattern as Message, extra, opts))
  }

  /** @internal nested act from an action's context. */
  actWith(parent: Context, pattern: string | Message, extra: Message | undefined, opts: CallOptions | undefined): Promise<unknown> {
    if (this.phase === 'closed') return Promise.reject(closedError(this.name))
    let msg: Message
    try {
      msg = toMessage(pattern, extra)
    } catch (err) {
      return Promise.reject(err)
    }
    const route = this.routes.find(msg)
    if (route === undefined) return Promise.reject(notFound(msg))
    return this.run(route.data, msg, parent.childMeta(opts, this.name))
  }

  /** @internal `ctx.prior(msg)`: the action the running one overrides. */
  priorWith(ctx: Context, msg: Message): Promise<unknown> {
    const entry = (ctx.entry as Entry).prior
    if (entry === undefined) {
      return Promise.reject(new StoaError('NOT_FOUND', `no prior action for "${ctx.pattern}"`, { pattern: ctx.pattern }))
    }
    return this.run(entry, msg, { id: undefined, trace: ctx.trace, deadline: ctx.deadline, timeoutMs: this.timeoutMs, token: ctx.token, caller: ctx.caller })
  }

  /**
   * The core of every call: check the deadline, validate, run, and watch an asynchronous
   * result against the deadline. Never throws; always returns a promise.
   */
  private run(entry: Entry, msg: Message, meta: CallMeta): Promise<unknown> {
    // A fixed deadline came from a caller; one already passed means the work is worthless.
    if (meta.deadline !== undefined && meta.deadline <= Date.now()) return Promise.reject(timeoutError(entry.key))
    if (entry.remote !== undefined) return this.runRemote(entry, msg, meta)
    const ctx = new Context(this, entry, entry.key, msg, meta)
    let input: unknown = msg
    if (entry.schema !== undefined) {
      try {
        input = validate(entry.schema, msg)
      } catch (err) {
        return Promise.reject(err)
      }
      if (input instanceof Promise) {
        return this.watch(input.then((value) => entry.fn!(mergePairs(value, msg, entry.keys), ctx)), entry, ctx.deadline, ctx)
      }
      input = mergePairs(input, msg, entry.keys)
    }
    let result: unknown
    try {
      result = entry.fn!(input, ctx)
    } catch (err) {
      return Promise.reject(this.failure(err, entry, ctx))
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      return this.watch(result as PromiseLike<unknown>, entry, ctx.deadline, ctx)
    }
    return Promise.resolve(result)
  }

  private runRemote(entry: Entry, msg: Message, call: CallMeta): Promise<unknown> {
    const remote = entry.remote!
    const id = call.id ?? newId()
    const meta: EnvelopeMeta & { deadline: number } = {
      id,
      trace: call.trace ?? id,
      deadline: call.deadline ?? this.now() + call.timeoutMs,
      token: call.token,
      caller: call.caller,
    }
    let sent: Promise<Reply>
    try {
      sent = remote.client.deliver({ kind: 'act', msg, meta })
    } catch (err) {
      return Promise.reject(toStoaError(err))
    }
    const out = sent.then((reply) => {
      if (reply.ok) return reply.out
      throw StoaError.fromJSON(reply.error)
    })
    return this.watch(out, entry, meta.deadline, undefined)
  }

  /**
   * Resolves with the action's result, or rejects with `TIMEOUT` at the deadline, whichever
   * comes first. One timer serves every pending call: it is set for the earliest deadline and
   * only re-armed when an earlier one arrives, so a call costs no timer of its own.
   */
  private watch(result: PromiseLike<unknown>, entry: Entry, deadline: number, ctx: Context | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call: Pending = { deadline, key: entry.key, reject, prev: undefined, next: undefined, linked: false }
      const pending = this.pending
      if (!this.timerRefed && this.timer !== undefined) {
        this.timer.ref()
        this.timerRefed = true
      }
      pending.add(call)
      if (deadline < this.timerAt) this.arm(deadline)
      result.then(
        (value) => {
          if (pending.delete(call)) {
            resolve(value)
            if (pending.size === 0) this.idle()
          }
        },
        (err) => {
          if (pending.delete(call)) {
            reject(ctx === undefined ? toStoaError(err) : this.failure(err, entry, ctx))
            if (pending.size === 0) this.idle()
          }
        },
      )
    })
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    // setTimeout takes at most 2^31-1 ms (24.8 days) and fires after 1 ms past that, so a far
    // deadline (a caller may send any budget) is reached in steps: each sweep re-arms for it.
    this.timer = setTimeout(() => this.sweep(), Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 1))
    this.timerRefed = true
  }

  /**
   * The time calls made now count their deadline from: the clock is read once per turn of the
   * event loop and then once every {@link CLOCK_EVERY} calls, not on every call (a clock read
   * costs ~60 ns here, a quarter of an asynchronous in-process call). A turn can run long
   * without ever yielding (a batch job awaiting action after action, all microtasks): were the
   * clock read once per turn, every call in it would inherit a deadline that passed long ago.
   * A deadline can so start early by at most the time the last few calls took; the sweep
   * itself reads the exact clock.
   */
  now(): number {
    if (!this.inTurn) {
      this.turnStart = Date.now()
      this.turnCalls = 0
      this.inTurn = true
      setImmediate(this.endTurn)
    } else if (++this.turnCalls >= CLOCK_EVERY) {
      this.turnStart = Date.now()
      this.turnCalls = 0
    }
    return this.turnStart
  }

  /**
   * End of a turn: forget its start time, and if nothing is in flight let the process exit
   * despite the deadline timer. Doing this once per turn instead of on every idle moment
   * keeps a sequential run of calls from toggling the timer's ref count on each one.
   */
  private readonly endTurn = (): void => {
    this.inTurn = false
    if (this.pending.size === 0 && this.timer !== undefined && this.timerRefed) {
      this.timer.unref()
      this.timerRefed = false
    }
  }

  private sweep(): void {
    this.timer = undefined
    this.timerRefed = false
    this.timerAt = Infinity
    const now = Date.now()
    let next = Infinity
    for (const call of this.pending) {
      if (call.deadline <= now) {
        this.pending.delete(call)
        call.reject(timeoutError(call.key))
      } else if (call.deadline < next) next = call.deadline
    }
    if (next !== Infinity) this.arm(next)
    else this.idle()
  }

  /** Nothing in flight: let the process exit if it has nothing else to do, and wake close(). */
  private idle(): void {
    if (this.timerRefed) this.now()
    this.drained?.()
  }

  private failure(err: unknown, entry: Entry, ctx: Context): StoaError {
    if (err instanceof StoaError) return err
    this.log.error({ err, pattern: entry.key, trace: ctx.trace, id: ctx.id }, 'action failed')
    return new StoaError('ACTION_FAILED', `action "${entry.key}" failed`, undefined, { cause: err })
  }

  /**
   * Sends a task, `<service>.<entity>.<request>`, to exactly one handler: here if this
   * service handles it, otherwise through a client transport. Resolves once the task is
   * accepted; rejects `NOT_FOUND` when nothing can take it, `INVALID_NAME` for a bad name.
   *
   * @example
   * await stoa.send('tally.vote.record', { voter: 'v1', choice: 'a' })
   */
  send(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return this.deliverTask(name, data, this.rootMeta(opts))
  }

  /** Metadata of a task or event sent from outside any action. */
  private rootMeta(opts: CallOptions | undefined): FixedMeta {
    const id = opts?.id ?? newId()
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs
    return { id, trace: opts?.trace ?? id, deadline: Date.now() + timeoutMs, timeoutMs, token: opts?.token, caller: opts?.caller ?? this.name }
  }

  /** @internal */
  sendWith(parent: Context, name: string, data: Message | undefined, opts: CallOptions | undefined): Promise<void> {
    return this.deliverTask(name, data, parent.childMeta(opts, this.name))
  }

  private async deliverTask(name: string, data: Message | undefined, meta: FixedMeta): Promise<void> {
    assertTaskName(name)
    if (this.phase === 'closed') throw closedError(this.name)
    if (this.phase === 'starting') await this.ready()
    const msg = taskMessage(name, data)
    const route = this.local.find(msg)
    if (route !== undefined) {
      this.background(this.run(route.data, msg, meta), route.data.key, meta.trace)
      return
    }
    // Each client may reach different services (one HTTP client per service, say): a client
    // that cannot place the task answers NOT_FOUND, and the next one is tried.
    let reply: Reply | undefined
    for (const c of this.clients) {
      if (c.client === undefined) continue
      reply = await c.client.deliver({ kind: 'send', name, msg: data ?? {}, meta })
      if (reply.ok || reply.error.code !== 'NOT_FOUND') break
    }
    if (reply === undefined) throw new StoaError('NOT_FOUND', `no handler for task "${name}"`, { task: name })
    if (!reply.ok) throw StoaError.fromJSON(reply.error)
  }

  /**
   * Emits an event, `<entity>.<verb>`: every subscribing service receives it once. Resolves
   * once the event is accepted (by every client transport, or handed to local subscribers).
   *
   * @example
   * await stoa.emit('vote.recorded', { voter: 'v1' })
   */
  emit(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return this.deliverEvent(name, data, this.rootMeta(opts))
  }

  /** @internal */
  emitWith(parent: Context, name: string, data: Message | undefined, opts: CallOptions | undefined): Promise<void> {
    return this.deliverEvent(name, data, parent.childMeta(opts, this.name))
  }

  private async deliverEvent(name: string, data: Message | undefined, meta: FixedMeta): Promise<void> {
    assertEventName(name)
    if (this.phase === 'closed') throw closedError(this.name)
    if (this.phase === 'starting') await this.ready()
    // Through client transports, every subscribing service hears the event once, this one
    // included if it listens there; with no client, the subscribers here are all there is.
    const clients = this.clients.filter((c) => c.client !== undefined)
    if (clients.length === 0) {
      this.background(this.runSubscribers(name, data ?? {}, meta), name, meta.trace)
      return
    }
    const replies = await Promise.all(clients.map((c) => c.client!.deliver({ kind: 'emit', name, msg: data ?? {}, meta })))
    for (const reply of replies) if (!reply.ok) throw StoaError.fromJSON(reply.error)
  }

  private async runSubscribers(name: string, data: Message, meta: FixedMeta): Promise<void> {
    const subs = this.subscriptions.filter((s) => matchesSubscription(s.name, name))
    const msg: Message = mergeMessages(data, { event: name })
    const results = await Promise.allSettled(
      subs.map((s) => {
        const entry = subscriberEntry(s)
        return this.run(entry, msg, { ...meta, id: undefined })
      }),
    )
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  private background(work: Promise<unknown>, what: string, trace: string): void {
    work.catch((err: unknown) => this.log.error({ err, pattern: what, trace }, 'background work failed'))
  }

  // ---------------------------------------------------------------- transports

  /**
   * Runs an envelope that arrived through a transport on this service's local actions, tasks
   * or subscribers, and answers with a reply. Never rejects. Refuses work with `CLOSED` once
   * closing has begun, so a broker can give it to another instance.
   */
  dispatch(e: Envelope): Promise<Reply> {
    if (this.phase === 'closing' || this.phase === 'closed') return Promise.resolve(errorReply(closedError(this.name)))
    if (this.phase === 'starting') return this.ready().then(() => this.dispatch(e), (err) => errorReply(toStoaError(err)))
    const meta = e.meta
    const now = Date.now()
    const deadline = typeof meta.deadline === 'number' ? meta.deadline : now + this.timeoutMs
    const full = { id: meta.id, trace: meta.trace, deadline, timeoutMs: this.timeoutMs, token: meta.token, caller: meta.caller, headers: meta.headers }
    let work: Promise<unknown>
    try {
      if (e.msg === null || typeof e.msg !== 'object') throw new StoaError('INVALID_MESSAGE', 'the message must be an object')
      if (e.kind === 'act') {
        const msg = { ...e.msg }
        const route = this.local.find(msg)
        if (route === undefined) throw notFound(msg)
        work = this.run(route.data, msg, full)
      } else if (e.kind === 'send') {
        assertTaskName(e.name)
        const msg = taskMessage(e.name, e.msg)
        const route = this.local.find(msg)
        if (route === undefined) throw new StoaError('NOT_FOUND', `no handler for task "${e.name}"`, { task: e.name })
        work = this.run(route.data, msg, full)
      } else if (e.kind === 'emit') {
        assertEventName(e.name)
        if (deadline <= now) throw timeoutError(e.name)
        work = this.runSubscribers(e.name, e.msg, full)
      } else {
        throw new StoaError('INVALID_MESSAGE', `unknown envelope kind "${String((e as { kind: unknown }).kind)}"`)
      }
    } catch (err) {
      return Promise.resolve(errorReply(toStoaError(err)))
    }
    return work.then(
      (out) => ({ ok: true as const, out: e.kind === 'act' ? out : undefined }),
      (err) => errorReply(toStoaError(err)),
    )
  }

  private taskNames(): string[] {
    return this.local
      .list()
      .map((r) => r.pattern.task)
      .filter((t): t is string => typeof t === 'string')
  }

  // ---------------------------------------------------------------- introspection

  /** Whether an action is registered under exactly this pattern. */
  has(pattern: string | Message): boolean {
    return this.routes.exact(toPattern(pattern as string)) !== undefined
  }

  /** The action a message would run, or undefined. `exact` finds only the identical pattern. */
  find(pattern: string | Message, options?: { exact?: boolean }): ActionInfo | undefined {
    const route = options?.exact === true ? this.routes.exact(toPattern(pattern as string)) : this.routes.find(toMessage(pattern))
    return route === undefined ? undefined : info(route)
  }

  /** Every action whose pattern contains the given pairs (all actions without one). */
  list(pattern?: string | Message): ActionInfo[] {
    const partial = pattern === undefined ? undefined : toMessage(pattern)
    return this.routes.list(partial).map(info)
  }

  /** The event subscriptions of this service. */
  listSubscriptions(): { name: string; plugin: string | undefined }[] {
    return this.subscriptions.map((s) => ({ name: s.name, plugin: s.plugin }))
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Closes the instance: refuses new work from transports, waits for in-flight actions (up to
   * `graceMs`), closes the transports, then runs close hooks in reverse order of loading.
   */
  async close(): Promise<void> {
    if (this.phase === 'closed') return
    if (this.phase === 'starting' && this.starting !== undefined) await this.starting.catch(() => undefined)
    this.phase = 'closing'
    if (this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.drained = () => {
          if (this.pending.size === 0) resolve()
        }
        timer = setTimeout(resolve, this.graceMs)
      })
      clearTimeout(timer)
      this.drained = undefined
      if (this.pending.size > 0) {
        this.log.warn({ pending: this.pending.size, service: this.name }, 'closing with calls still in flight')
      }
    }
    for (const t of [...this.transports].reverse()) {
      await t.close().catch((err: unknown) => this.log.error({ err, transport: t.name }, 'transport failed to close'))
    }
    for (const hook of [...this.closeHooks].reverse()) {
      await Promise.resolve()
        .then(hook)
        .catch((err: unknown) => this.log.error({ err }, 'close hook failed'))
    }
    for (const call of this.pending) call.reject(closedError(this.name))
    this.pending.clear()
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerRefed = false
    this.phase = 'closed'
  }
}

/** The action types a plugin adds. */
export type PluginTypes<P> = P extends Plugin<string, any, infer A> ? TypesOf<A> : {}

/**
 * Creates a stoa instance: one service's actions, plugins and transports.
 *
 * @example
 * const stoa = createStoa({ name: 'math' })
 * stoa.add('role:math,cmd:sum', (msg) => ({ answer: Number(msg.left) + Number(msg.right) }))
 * await stoa.act('role:math,cmd:sum', { left: 1, right: 2 }) // { answer: 3 }
 */
export function createStoa(options?: StoaOptions): Stoa {
  return new Stoa(options)
}

function info(route: Route<Entry>): ActionInfo {
  const e = route.data
  return {
    pattern: e.pattern,
    key: e.key,
    plugin: e.plugin,
    permission: e.permission,
    description: e.description,
    schema: e.schema,
    transport: e.remote?.transport,
  }
}

/**
 * The schema's output plus the pattern's own pairs, which schemas usually leave out. The output
 * is a fresh object made by the validator (or the message, which is already the caller's
 * copy), so the pairs are written into it rather than into a copy.
 */
function mergePairs(value: unknown, msg: Message, keys: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const out = value as Message
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = msg[keys[i]!]
  return out
}

function taskMessage(name: string, data: Message | undefined): Message {
  return mergeMessages(data, { task: name })
}

const subscriberEntries = new WeakMap<Subscription, Entry>()
function subscriberEntry(s: Subscription): Entry {
  let e = subscriberEntries.get(s)
  if (e === undefined) {
    e = {
      pattern: { event: s.name },
      key: `event:${s.name}`,
      keys: ['event'],
      fn: s.handler,
      schema: undefined,
      permission: undefined,
      description: undefined,
      timeoutMs: undefined,
      plugin: s.plugin,
      prior: undefined,
      remote: undefined,
    }
    subscriberEntries.set(s, e)
  }
  return e
}

function notFound(msg: Message): StoaError {
  const shown = describeMessage(msg)
  return new StoaError('NOT_FOUND', `no action matches "${shown}"`, { message: shown })
}

function timeoutError(key: string): StoaError {
  return new StoaError('TIMEOUT', `"${key}" did not finish before its deadline`, { pattern: key })
}

function closedError(name: string): StoaError {
  return new StoaError('CLOSED', `service "${name}" is closed`)
}

function unavailable(transport: string): TransportClient {
  return {
    deliver: () => Promise.resolve(errorReply(new StoaError('UNAVAILABLE', `transport "${transport}" is not started`))),
  }
}

function errorReply(err: StoaError): Reply {
  return { ok: false, error: err.toJSON() }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
