import type {
  Action,
  ActionDef,
  ActionLike,
  ActionOptions,
  ActionTypes,
  BatchSpec,
  SubscribeOptions,
  TypesOf,
} from './action.js'
import type { CallMeta, CallOptions, ContextHost } from './context.js'
import { Context, newId } from './context.js'
import type { Clock } from './deadlines.js'
import { callTimeoutMs, checkTimeout, Deadlines, systemClock, timeoutError } from './deadlines.js'
import type { FixedMeta } from './delivery.js'
import { Delivery, taskMessage } from './delivery.js'
import type { Envelope, EnvelopeMeta, Reply } from './envelope.js'
import { StoaError, toStoaError } from './errors.js'
import type { Readiness, ReadyCheck } from './health.js'
import { Checks } from './health.js'
import type { ActionInfo, HookEntry, Hooks } from './hooks.js'
import { resultChecksDefault } from './kernel-options.js'
import { closedError, Lifecycle } from './lifecycle.js'
import type { Logger } from './logger.js'
import { createLogger } from './logger.js'
import { assertEventName, assertEventSubscription, assertTaskName, taskService } from './names.js'
import { Observers } from './observe.js'
import type { Message } from './pattern.js'
import { describeMessage, mergeMessages, patternString, toMessage, toPattern } from './pattern.js'
import type {
  CloseHook,
  HttpParts,
  NodeHandler,
  NodeMiddleware,
  Plugin,
  PluginHost,
  PluginInit,
  PluginSagas,
  PluginSubscription,
  UpgradeHandler,
  UseArgs,
  UseOptions,
} from './plugin.js'
import { isPlugin, PluginSet, validateOptions } from './plugin.js'
import type { Entry } from './registry.js'
import { Registry } from './registry.js'
import type { Router } from './router.js'
import type { SagaDefinition, SagaRuntime, SagaServing } from './saga.js'
import { Sagas } from './saga.js'
import type { SenecaUseOptions } from './seneca/index.js'
import { runSenecaPlugin } from './seneca/index.js'
import type { Transport, TransportHost } from './transport.js'
import { errorReply } from './transport-kit.js'

/** Options for {@link createStoa}. */
export interface StoaOptions {
  /** The service's name: how callers and transports address it. Default `stoa`. */
  name?: string
  /** Default time limit of a call, ms: finite, above 0 (else `INVALID_OPTIONS`). Default 30 000. */
  timeoutMs?: number
  /** How long `close()` waits for in-flight work, ms: finite, 0 or more. Default 10 000. */
  graceMs?: number
  /** Where stoa logs; a pino logger fits. Default: JSON lines on stderr, warnings and up. */
  logger?: Logger
  /**
   * Check each result against its action's `result` schema (`INVALID_RESULT` when it fails).
   * Default: on, unless `NODE_ENV` is `production`.
   */
  checkResults?: boolean
  /** The service's contract version (semver): a breaking change passes `stoa contract --check` once it went up. */
  version?: string
  /**
   * Where deadlines read the time and set their timer. Default: the process's clock. A test
   * passes a virtual one (`stoa/testing`), so a deadline is reached by moving it, not by waiting.
   */
  clock?: Clock
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_GRACE_MS = 10_000

/** The arguments of `act` for a pattern string: typed when the kernel knows the pattern. */
type ActArgs<T extends ActionTypes, P extends string> = P extends keyof T
  ? {} extends T[P]['in']
    ? [msg?: T[P]['in'], opts?: CallOptions]
    : [msg: T[P]['in'], opts?: CallOptions]
  : [msg?: Message, opts?: CallOptions]

/** The arguments of `act` for a pattern string or a pattern object. */
type ActArgsOf<T extends ActionTypes, P> = P extends string ? ActArgs<T, P> : [extra?: Message, opts?: CallOptions]

/** A pattern string's pairs as an object type: `'role:math,cmd:sum'` is `{ role: 'math' } & { cmd: 'sum' }`. */
type PairsOf<S extends string> = S extends `${infer K}:${infer V},${infer R}`
  ? { [k in K]: V } & PairsOf<R>
  : S extends `${infer K}:${infer V}`
    ? { [k in K]: V }
    : {}

/** The known patterns whose every pair `M` holds: the actions a message of type `M` reaches. */
type Reached<T extends ActionTypes, M> = { [K in keyof T & string]: M extends PairsOf<K> ? K : never }[keyof T & string]

/** The known patterns of the role `M` names. */
type OfRole<T extends ActionTypes, M> = M extends { role: infer R extends string }
  ? { [K in keyof T & string]: PairsOf<K> extends { role: R } ? K : never }[keyof T & string]
  : never

/** A string read as a misspelt known pattern: it reaches no known action, yet its role has known patterns. */
type Misspelt<T extends ActionTypes, P extends string> = P extends keyof T
  ? false
  : [Reached<T, PairsOf<P>>] extends [never]
    ? [OfRole<T, PairsOf<P>>] extends [never]
      ? false
      : true
    : false

/** A pattern object's values as a pattern string spells them: `{ precise: true }` holds `precise:true`. */
type Spelt<M> = { [K in keyof M]: M[K] extends string | number | boolean ? `${M[K]}` : M[K] }

/** Whether any value of `M` is wide (`string`, `number`...): what it holds is known only at run time. */
type AnyWide<M> = true extends {
  [K in keyof M]: string extends M[K] ? true : number extends M[K] ? true : boolean extends M[K] ? true : false
}[keyof M]
  ? true
  : false

/** The values the patterns `K` give the field `F`. */
type ValuesAt<K extends string, F extends string> = K extends string
  ? F extends keyof PairsOf<K>
    ? PairsOf<K>[F]
    : never
  : never

/** What a misspelt pattern field is told it should be: one of the known values. */
interface OneOf<V> {
  /** The values the known patterns of this role give the field. */
  'known values': V
}

/**
 * The fields a pattern object `M` of a role whose known patterns are `K` gets wrong: one it
 * holds with a value no known pattern gives it, and one every known pattern has and it lacks.
 */
type Wanted<M, K extends string> = {
  [F in Exclude<keyof PairsOf<K> | (keyof M & ValueKeys<K>), 'role'> as F extends keyof M
    ? Spelt<M>[F] extends ValuesAt<K, F & string>
      ? never
      : F
    : F]: OneOf<ValuesAt<K, F & string>>
}

/** Every field any of the patterns `K` has. */
type ValueKeys<K extends string> = K extends string ? keyof PairsOf<K> & string : never

/**
 * The check on a pattern object: one whose pairs reach no known action although its role has
 * known patterns is a misspelling, and the fields it gets wrong are asked for. One of a role with
 * none known, or whose role or pattern fields are wide (known only at run time), stays open, as
 * the string form does.
 */
type ObjectCheck<T extends ActionTypes, M> = [OfRole<T, M>] extends [never]
  ? unknown
  : AnyWide<Pick<M, keyof M & ValueKeys<OfRole<T, M>>>> extends true
    ? unknown
    : [Reached<T, Spelt<M>>] extends [never]
      ? Wanted<M, OfRole<T, M>>
      : unknown

/**
 * What `act` takes as the pattern `P`. A known pattern string, or one that reaches a known action
 * (more pairs, another order): itself. A string that reaches none although its role has known
 * patterns is taken for a misspelling, and only the known patterns are offered (a pattern of
 * that role answered elsewhere passes as a `string`). A pattern object is held to the same rule,
 * field by field. Any other string or object stays open.
 *
 * `P` itself stays a member (`P & …`) so that a `const` type parameter keeps an object's
 * literal values: through a conditional alone TypeScript widens `{ cmd: 'cst' }` to
 * `{ cmd: string }` before any check could see the misspelling.
 */
type PatternArg<T extends ActionTypes, P> =
  | (P extends string ? (Misspelt<T, P> extends true ? OfRole<T, PairsOf<P>> : never) : never)
  | (P & (P extends string ? (Misspelt<T, P> extends true ? never : unknown) : ObjectCheck<T, P>))

/** The result of `act` for a pattern string. */
type ActResult<T extends ActionTypes, P> = P extends keyof T ? T[P]['out'] : unknown

/**
 * A stoa instance: the actions of one service, the plugins that bring them, and the transports
 * it listens and calls through. `T` records the typed actions it knows, so `act` on a known
 * pattern checks its message and infers its result.
 *
 * The machinery lives beside it: the registry (actions, subscriptions, hooks), the deadlines
 * (calls in flight), delivery (tasks and events), the lifecycle (start, close, transports) and
 * the plugins' transport observers. This class holds the public API and the call path.
 */
export class Stoa<T extends ActionTypes = {}> {
  /** The service's name. */
  readonly name: string
  /** Where this instance logs. */
  readonly log: Logger
  /** The declared contract version, if any. */
  readonly version: string | undefined
  private readonly timeoutMs: number
  /** A call from outside any action with no options, to an action with no time limit of its own: one object, read by each context, never written. */
  private readonly rootCall: Readonly<CallMeta>
  /** Whether the service listens on a transport, and whether its task names were checked then. */
  private listens = false
  private strayChecked = false
  private stepsChecked = false
  private readonly graceMs: number
  private readonly registry = new Registry()
  /**
   * Where this instance reads the time and sets its timers (`createStoa({ clock })`, else the
   * process's clock). A plugin's own timers and timestamps go through it too, so that under a
   * virtual clock (`stoa/testing`) they move when the test moves time.
   *
   * @example
   * const sweep = () => console.log('swept at', stoa.clock.now())
   * const timer = stoa.clock.setTimer(sweep, 1000)
   * stoa.onClose(() => stoa.clock.clearTimer(timer))
   */
  readonly clock: Clock
  private readonly deadlines: Deadlines
  private readonly checks: Checks
  private readonly life: Lifecycle
  private readonly plugins: PluginSet
  private readonly observers: Observers
  /** The handles of setup-form plugins, by full name (and bare name, for the first loading). */
  private readonly handles = new Map<string, unknown>()
  /** What setup-form plugins serve over HTTP, in loading order. */
  private readonly http: HttpParts[] = []
  private readonly delivery: Delivery
  private readonly sagas = new Sagas()
  /** What contexts forward their nested calls to. */
  private readonly calls: ContextHost
  /** Turns an action's failure into the caller's error; one function for every call. */
  private readonly failAction: (err: unknown, ctx: Context) => StoaError
  private readonly failRemote = (err: unknown): StoaError => toStoaError(err)

  /** Use {@link createStoa}. */
  constructor(options: StoaOptions = {}) {
    // Checked here, once: an instance whose time limit is NaN would run every call unwatched.
    checkTimeout(options.timeoutMs, 'timeoutMs', 'stoa')
    checkTimeout(options.graceMs, 'graceMs', 'stoa', true)
    this.name = options.name ?? 'stoa'
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.rootCall = Object.freeze({
      id: undefined,
      trace: undefined,
      deadline: undefined,
      timeoutMs: this.timeoutMs,
      token: undefined,
      caller: this.name,
    })
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS
    this.log = options.logger ?? createLogger()
    this.version = options.version
    this.registry.checkResults = options.checkResults ?? resultChecksDefault()
    this.clock = options.clock ?? systemClock
    this.checks = new Checks(this.clock)
    this.deadlines = new Deadlines(this.clock)
    this.registry.clock = this.clock
    const life = new Lifecycle(this.name, this.log)
    this.observers = new Observers(this.log)
    this.life = life
    this.plugins = new PluginSet(
      (start) => life.queue(start),
      (hook) => life.onClose(hook),
    )
    this.delivery = new Delivery({
      registry: this.registry,
      clients: life.clients,
      log: this.log,
      admit: () => this.admit(),
      run: (entry, msg, meta, parent) => this.run(entry, msg, meta, parent),
    })
    this.calls = {
      now: () => this.deadlines.now(),
      time: () => this.clock.now(),
      actWith: (parent, pattern, extra, opts) => this.actWith(parent, pattern, extra, opts),
      sendWith: (parent, name, data, opts) => this.delivery.task(name, data, parent.childMeta(opts, this.name), parent),
      emitWith: (parent, name, data, opts) =>
        this.delivery.event(name, data, parent.childMeta(opts, this.name), parent),
      priorWith: (ctx, msg) => this.prior(ctx, msg),
    }
    this.failAction = (err, ctx) => {
      if (err instanceof StoaError) return err
      this.log.error({ err, pattern: ctx.pattern, trace: ctx.trace, id: ctx.id }, 'action failed')
      return new StoaError('ACTION_FAILED', `action "${ctx.pattern}" failed`, undefined, { cause: err })
    }
  }

  /**
   * What a transport sees of this service. A listener's host names its transport, which every
   * call it dispatches records (`ctx.transport`) without a copy of the envelope; a client's
   * dispatches under the envelope's own. Both report to the plugins observing `observed`.
   */
  private hostFor(transport: string | undefined, observed: string): TransportHost {
    const life = this.life
    const registry = this.registry
    return {
      service: this.name,
      log: this.log,
      clock: this.clock,
      observer: this.observers.for(observed),
      get closing() {
        return life.closing
      },
      get held() {
        return life.held
      },
      dispatch: (e) => this.receive(e, transport ?? e.meta.transport),
      readiness: () => this.readiness(),
      answers: (msg) => registry.local.find(msg) !== undefined,
      tasks: () => registry.taskNames(),
      subscriptions: () => registry.subscriptionNames('service'),
      instanceSubscriptions: () => registry.subscriptionNames('instance'),
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
  add<const P extends string, D extends ActionDef<any, any>>(
    pattern: P,
    action: D,
    options?: ActionOptions,
  ): Stoa<T & TypesOf<{ [K in P]: D }>>
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): this
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): this {
    const pat = toPattern(pattern as string)
    if ('task' in pat) assertTaskName(pat.task)
    const def: ActionOptions & { handler: Action<any, unknown>; batch?: BatchSpec } =
      typeof action === 'function' ? { ...options, handler: action } : { ...action, ...options }
    if (typeof def.handler !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `action for "${patternString(pat)}" must be a function`)
    }
    checkTimeout(def.timeoutMs, 'timeoutMs', `action "${patternString(pat)}"`)
    checkActs(def.acts, `action "${patternString(pat)}"`)
    this.registry.addAction(pat, def, this.plugins.current)
    return this
  }

  /**
   * Registers a saga: a long business transaction of durable steps, started by the action
   * `pattern` (one run per `id(msg)`, however often the trigger arrives), whose steps' undos run
   * in reverse order when it fails. The trigger answers `{ id }` once the run is recorded.
   * Sagas run on the saga plugin's engine (`stoa/saga`): see docs/sagas.md.
   *
   * @example
   * stoa.saga('role:order,cmd:place', {
   *   id: (msg) => `order:${String(msg.id)}`,
   *   version: 1,
   *   acts: ['role:inventory,cmd:reserve', 'role:inventory,cmd:release'],
   *   async run(msg, saga) {
   *     const r = await saga.act('reserve', { role: 'inventory', cmd: 'reserve', sku: msg.sku },
   *       { undo: (r) => ({ role: 'inventory', cmd: 'release', reservation: r?.id }) })
   *     return { reservation: r.id }
   *   },
   * })
   */
  saga<M extends Message = Message>(pattern: string, definition: SagaDefinition<M, unknown>): this {
    const key = patternString(toPattern(pattern))
    checkActs(definition?.acts, `saga "${key}"`)
    this.sagas.define(key, definition as SagaDefinition<any, unknown>)
    const sagas = this.sagas
    const handler: Action<Message, unknown> = (msg, ctx) => sagas.start(key, msg, ctx)
    return this.add(pattern as string | Message, handler, { description: `starts the saga ${key}` })
  }

  /**
   * @internal The saga plugin's door: it serves this instance's sagas with `runtime` and gets
   * their definitions and the instance's clock (which its engine's timers follow).
   */
  serveSagas(runtime: SagaRuntime): SagaServing {
    this.sagas.serve(runtime)
    return { definitions: this.sagas.definitions, clock: this.clock }
  }

  /**
   * Subscribes to an event. The name may hold `*` segments (`address.*`). By default the
   * service hears each event once, durably, whatever its instance count; with
   * `{ each: 'instance' }` every running instance hears it, at most once (an instance that is
   * down misses it): for state each instance keeps for its own clients, such as browsers.
   *
   * @example
   * stoa.on('vote.recorded', async (msg, ctx) => {
   *   await ctx.send('results.tally.refresh', { voter: msg.voter })
   * })
   * stoa.on('vote.recorded', (msg) => void console.log('seen here', msg.voter), { each: 'instance' })
   */
  on(event: string, handler: Action<Message, unknown>, options?: SubscribeOptions): this {
    assertEventSubscription(event)
    const each = options?.each ?? 'service'
    if (each !== 'service' && each !== 'instance')
      throw new StoaError('INVALID_PLUGIN', `subscription "${event}": each must be 'service' or 'instance'`)
    const { each: _each, ...declared } = options ?? {}
    this.registry.subscribe(event, handler, this.plugins.current, each, declared)
    return this
  }

  /**
   * Registers a readiness check: while it returns `false` or throws, the instance is not
   * ready (`readiness()`, `/readyz`, `role:health,cmd:ready`), so an orchestrator sends it no
   * traffic. For what the service needs beyond its transports: its database, say.
   *
   * @example
   * stoa.addCheck('db', async () => { await pool.query('select 1') })
   */
  addCheck(name: string, check: ReadyCheck): this {
    if (typeof name !== 'string' || name === '' || typeof check !== 'function') {
      throw new StoaError('INVALID_PLUGIN', 'addCheck takes a name and a function')
    }
    this.checks.add(name, check)
    return this
  }

  /**
   * Whether the instance can take work now: started and not shutting down, every transport
   * ready (the broker connection up and not blocked) and every check passing. Never rejects.
   *
   * @example
   * const { ready, checks } = await stoa.readiness()
   */
  async readiness(): Promise<Readiness> {
    const checks = [...this.life.health(), ...(await this.checks.run())]
    return { ready: checks.every((c) => c.ready), checks }
  }

  /**
   * Stops the listening transports taking tasks and events while `name` holds them (something
   * the service needs is down: its database, say). The instance reports not ready
   * (`intake:<name>`), each transport with `pause` stops consuming, and a task failing with a
   * retryable code meanwhile goes back to its queue without counting as a try. Holding twice
   * under one name is one hold.
   *
   * @example
   * stoa.pauseIntake('postgres', 'the database is unreachable')
   * stoa.resumeIntake('postgres')
   */
  pauseIntake(name: string, reason: string): this {
    this.life.hold(name, reason)
    return this
  }

  /** Lifts the hold `name` put; when no hold is left, the transports take work again. */
  resumeIntake(name: string): this {
    this.life.release(name)
    return this
  }

  /** Registers a hook run when the instance closes, after in-flight work has finished. */
  onClose(hook: CloseHook): this {
    this.life.onClose(hook)
    return this
  }

  /**
   * Loads a plugin: a `definePlugin` plugin, or a Seneca-style plugin function, which runs
   * unchanged (on the engine `{ engine }` names, see docs/seneca.md). Options are validated now;
   * a failure throws `INVALID_OPTIONS` naming the plugin and option. The plugin's hooks wrap
   * every call from now on; `init` runs in `ready()`.
   *
   * @example
   * const app = createStoa().use(math, { precision: 2 })
   */
  use<P extends Plugin<string, any, any, any>>(plugin: P, ...args: UseArgs<P>): Stoa<T & PluginTypes<P>>
  use(plugin: (this: any, options: any) => unknown, options?: Record<string, unknown>, use?: SenecaUseOptions): this
  use(plugin: unknown, options?: unknown, use?: SenecaUseOptions): this {
    if (typeof plugin === 'function') {
      runSenecaPlugin(
        this,
        this.plugins,
        plugin as (this: unknown, options: unknown) => unknown,
        (options ?? {}) as Message,
        use,
        { name: this.name, timeoutMs: this.timeoutMs },
      )
      return this
    }
    if (!isPlugin(plugin)) {
      throw new StoaError(
        'INVALID_PLUGIN',
        'use() takes a plugin made with definePlugin or a Seneca-style plugin function',
      )
    }
    const info = this.plugins.claim(plugin.name, use?.tag)
    for (const dep of plugin.dependencies) {
      if (!this.plugins.has(dep)) {
        throw new StoaError(
          'INVALID_PLUGIN',
          `plugin "${info.fullname}" needs plugin "${dep}", which is not loaded; load it first`,
          {
            plugin: info.fullname,
            dependency: dep,
          },
        )
      }
    }
    const opts = validateOptions(plugin, options)
    let actions: unknown
    let hooks: Hooks | undefined
    let subscriptions: readonly PluginSubscription[] | undefined
    let sagas: PluginSagas | undefined
    let init: (() => ReturnType<PluginInit<undefined>>) | undefined
    if (plugin.setup !== undefined) {
      const setup = plugin.setup
      const parts = this.plugins.attribute(info.fullname, () =>
        setup(opts as never, { name: this.name, log: this.log, plugin: info, clock: this.clock }),
      )
      if (parts === null || typeof parts !== 'object') {
        throw new StoaError('INVALID_PLUGIN', `plugin "${info.fullname}": setup must return an object of parts`, {
          plugin: info.fullname,
        })
      }
      actions = parts.actions
      hooks = parts.hooks
      subscriptions = parts.subscriptions
      sagas = parts.sagas
      const start = parts.init
      init = start === undefined ? undefined : () => start(this.host())
      if (parts.observe !== undefined) this.observers.add(info.fullname, parts.observe)
      if (parts.http !== undefined) this.http.push(parts.http)
      this.handles.set(info.fullname, parts.handle)
      if (!this.handles.has(info.name)) this.handles.set(info.name, parts.handle)
    } else {
      actions = typeof plugin.actions === 'function' ? plugin.actions(opts as never, info) : plugin.actions
      hooks = typeof plugin.hooks === 'function' ? plugin.hooks(opts as never, info) : plugin.hooks
      sagas = typeof plugin.sagas === 'function' ? plugin.sagas(opts as never, info) : plugin.sagas
      const start = plugin.init
      init = start === undefined ? undefined : () => start(this.host(), opts as never, info)
    }
    this.plugins.attribute(info.fullname, () => {
      for (const [pattern, act] of Object.entries((actions ?? {}) as Record<string, ActionLike>)) this.add(pattern, act)
      for (const { event, handler, ...options } of subscriptions ?? []) this.on(event, handler, options)
      if (sagas === undefined) return
      if (sagas === null || typeof sagas !== 'object' || Array.isArray(sagas))
        throw new StoaError('INVALID_PLUGIN', `plugin "${info.fullname}": sagas must map trigger patterns to sagas`, {
          plugin: info.fullname,
        })
      for (const [pattern, def] of Object.entries(sagas)) this.saga(pattern, def)
    })
    if (hooks !== undefined && (hooks.inbound !== undefined || hooks.outbound !== undefined)) {
      this.registry.addHooks(info.fullname, hooks)
      if (hooks.outbound !== undefined) this.life.rewrap(this.registry.hooks)
    }
    this.plugins.record(info, init === undefined ? undefined : async () => init())
    return this
  }

  /**
   * The handle a setup-form plugin's `setup` returned for its loading here (the one tagged
   * `tag`, else the first): the plugin's own API for this instance; undefined for a plugin
   * that gives none. Throws `INVALID_PLUGIN` when that plugin is not loaded.
   *
   * @example
   * const stoa = createStoa({ name: 'tally' }).use(metrics)
   * app.get('/metrics', stoa.handleOf(metrics).endpoint)
   */
  handleOf<P extends Plugin<string, any, any, any>>(plugin: P, options?: UseOptions): HandleOf<P> {
    const fullname = options?.tag === undefined ? plugin.name : `${plugin.name}$${options.tag}`
    if (!this.plugins.has(fullname)) {
      throw new StoaError('INVALID_PLUGIN', `plugin "${fullname}" is not loaded in "${this.name}"`, {
        plugin: fullname,
      })
    }
    return this.handles.get(fullname) as HandleOf<P>
  }

  /**
   * What the loaded plugins serve over HTTP, for whoever runs this service's HTTP servers:
   * the `GET` endpoints by path (the first plugin to claim a path keeps it), and the
   * middleware each makes for a web server from its route table, in loading order.
   *
   * @example
   * const { endpoints } = stoa.httpParts()
   * stoa.listen(createHttpTransport({ port: 3001, endpoints }))
   */
  httpParts(): {
    endpoints: Record<string, NodeHandler>
    web: ((routes: readonly { method: string; path: string }[]) => NodeMiddleware)[]
    upgrades: Record<string, UpgradeHandler>
  } {
    const endpoints: Record<string, NodeHandler> = {}
    const web: ((routes: readonly { method: string; path: string }[]) => NodeMiddleware)[] = []
    const upgrades: Record<string, UpgradeHandler> = {}
    for (const http of this.http) {
      for (const [path, handler] of Object.entries(http.endpoints ?? {})) endpoints[path] ??= handler
      for (const [path, handler] of Object.entries(http.upgrades ?? {})) upgrades[path] ??= handler
      if (http.web !== undefined) web.push(http.web)
    }
    return { endpoints, web, upgrades }
  }

  /**
   * Listens on a transport: remote callers reach the local actions matching `pins` (all of
   * them by default), this service's tasks and its event subscriptions. Starts in `ready()`.
   */
  listen(transport: Transport, pins: readonly (string | Message)[] = []): this {
    this.listens = true
    this.life.listen(
      transport,
      pins.map((p) => toPattern(p as string)),
      this.hostFor(transport.name, transport.name),
    )
    return this
  }

  /**
   * Calls through a transport: acts matching `pins` go to it, and so do tasks for services
   * not handled here and every event. Starts in `ready()`.
   */
  client(transport: Transport, pins: readonly (string | Message)[] = []): this {
    const patterns = pins.map((p) => toPattern(p as string))
    const slot = this.life.client(
      transport,
      patterns,
      this.hostFor(undefined, transport.name),
      () => this.registry.hooks,
    )
    for (const pin of patterns) this.registry.addRemote(pin, slot.remote, this.plugins.current)
    return this
  }

  /**
   * Starts everything loaded so far: plugin inits in loading order, then listeners and clients.
   * Acts made before `ready()` wait for it. Safe to call again after loading more.
   */
  ready(): Promise<this> {
    return this.life.ready().then(() => {
      if (this.listens && !this.strayChecked) this.warnStrayTasks()
      if (!this.stepsChecked) this.warnUnansweredSteps()
      return this
    })
  }

  /**
   * A task goes to the queue of the service its name starts with: a handler for another
   * service's task, in a service that listens on a transport, is never given anything from a
   * broker. Said once at start, since in process (a test, `stoa act`) it still runs.
   */
  private warnStrayTasks(): void {
    this.strayChecked = true
    for (const task of this.registry.taskNames()) {
      const owner = taskService(task)
      if (owner === this.name) continue
      this.log.warn(
        { task, service: this.name },
        `task handler "task:${task}" in service "${this.name}" is never given a task by a broker: tasks named ${owner}.* go to service "${owner}"`,
      )
    }
  }

  /**
   * This instance as its plugins' `init` sees it. Any `Stoa` of known actions is a `PluginHost`
   * (test/types/kernel.types.ts checks it); only here, where its actions are the generic `T`,
   * TypeScript infers `act`'s pattern as a `string` alone and cannot tell its arguments are open.
   */
  private host(): PluginHost {
    return this as unknown as PluginHost
  }

  /**
   * A saga's declared `acts` that no action here and no client answers would fail its step
   * NOT_FOUND, after the steps before it ran and before their undos: said once at start, with
   * the clients attached, naming the saga and the pattern.
   */
  private warnUnansweredSteps(): void {
    this.stepsChecked = true
    for (const [saga, def] of this.sagas.definitions) {
      for (const declared of def.acts ?? []) {
        if (this.find(declared) !== undefined) continue
        const pattern = patternString(toPattern(declared))
        this.log.warn(
          { saga, pattern },
          `saga "${saga}" has a step acting on "${pattern}", which no action of "${this.name}" and no client answers: the step would fail NOT_FOUND`,
        )
      }
    }
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
  // One signature, not an overload per form: with overloads TypeScript 7 reports only the last
  // one's failure ("not assignable to parameter of type 'Message'"), never the wrong field.
  act<const P extends string | Message>(pattern: PatternArg<T, P>, ...args: ActArgsOf<T, P>): Promise<ActResult<T, P>>
  act(pattern: string | Message, extra?: any, opts?: CallOptions): Promise<any> {
    const phase = this.life.phase
    // While closing, in-flight work may still call in; only a closed instance refuses.
    if (phase !== 'running' && phase !== 'closing') return this.actLater(pattern, extra, opts)
    let msg: Message
    try {
      msg = toMessage(pattern, extra)
    } catch (err) {
      return Promise.reject(unreadable(err))
    }
    const route = this.registry.all.find(msg)
    if (route === undefined) return Promise.reject(notFound(msg, this.registry.all))
    const entry = route.data
    // run() never throws, but a result whose `then` getter throws escapes its try when it is
    // looked at: catching here keeps act a promise on any result, at no cost to the call.
    try {
      // null is JavaScript's other "none": taken as no options rather than failing on it.
      if (opts === undefined || opts === null) {
        if (entry.timeoutMs === undefined) return this.run(entry, msg, this.rootCall, undefined)
        return this.run(
          entry,
          msg,
          {
            id: undefined,
            trace: undefined,
            deadline: undefined,
            timeoutMs: entry.timeoutMs,
            token: undefined,
            caller: this.name,
          },
          undefined,
        )
      }
      return this.run(
        entry,
        msg,
        {
          id: opts.id,
          trace: opts.trace,
          deadline: undefined,
          timeoutMs: callTimeoutMs(opts.timeoutMs) ?? entry.timeoutMs ?? this.timeoutMs,
          token: opts.token,
          caller: opts.caller ?? this.name,
          headers: opts.headers,
          responseHeaders: opts.responseHeaders,
          traceparent: opts.traceparent,
          tracestate: opts.tracestate,
        },
        undefined,
      )
    } catch (err) {
      this.log.error({ err, pattern: entry.key }, 'action failed')
      return Promise.reject(new StoaError('ACTION_FAILED', `action "${entry.key}" failed`, undefined, { cause: err }))
    }
  }

  private actLater(
    pattern: string | Message,
    extra: Message | undefined,
    opts: CallOptions | undefined,
  ): Promise<unknown> {
    if (this.life.phase === 'closed') return Promise.reject(closedError(this.name))
    // The untyped form: the caller's pattern was checked where it was written, if at all.
    const act = this.act as (pattern: string | Message, extra?: Message, opts?: CallOptions) => Promise<unknown>
    return this.ready().then(() => act.call(this, pattern, extra, opts))
  }

  /** A nested act from an action's context. */
  private actWith(
    parent: Context,
    pattern: string | Message,
    extra: Message | undefined,
    opts: CallOptions | undefined,
  ): Promise<unknown> {
    if (this.life.phase === 'closed') return Promise.reject(closedError(this.name))
    let msg: Message
    try {
      msg = toMessage(pattern, extra)
    } catch (err) {
      return Promise.reject(unreadable(err))
    }
    const route = this.registry.all.find(msg)
    if (route === undefined) return Promise.reject(notFound(msg, this.registry.all))
    const meta: CallMeta = parent.childMeta(opts, this.name)
    // A nested act is part of its caller's answer: what it adds to the headers goes there too.
    if (parent.responseHeaders !== undefined) meta.responseHeaders = parent.responseHeaders
    return this.run(route.data, msg, meta, parent)
  }

  /**
   * `ctx.prior(msg)`: the action the running one overrides. It runs without the inbound hooks,
   * which wrapped this call once already: `prior` extends an action, it is not a new call.
   */
  private prior(ctx: Context, msg: Message): Promise<unknown> {
    const entry = (ctx.entry as Entry).prior
    if (entry === undefined) {
      return Promise.reject(
        new StoaError('NOT_FOUND', `no prior action for "${ctx.pattern}"`, { pattern: ctx.pattern }),
      )
    }
    const meta: CallMeta = {
      id: undefined,
      trace: ctx.trace,
      deadline: ctx.deadline,
      timeoutMs: this.timeoutMs,
      token: ctx.token,
      caller: ctx.caller,
      identity: ctx.identity,
      responseHeaders: ctx.responseHeaders,
    }
    return this.run(entry, msg, meta, ctx, true)
  }

  /**
   * The core of every call: check the deadline, run the entry (its hooks, validation and the
   * action), and watch an asynchronous result against the deadline. Never throws; always
   * returns a promise.
   */
  private run(
    entry: Entry,
    msg: Message,
    meta: Readonly<CallMeta>,
    parent: Context | undefined,
    bare = false,
  ): Promise<unknown> {
    // A fixed deadline came from a caller; one already passed means the work is worthless.
    if (meta.deadline !== undefined && meta.deadline <= this.clock.now()) return Promise.reject(timeoutError(entry.key))
    if (entry.remote !== undefined) return this.runRemote(entry, msg, meta, parent)
    const ctx = new Context(this.calls, entry, entry.key, msg, meta)
    let result: unknown
    try {
      result = (bare ? entry.base : entry.run)(msg, ctx)
    } catch (err) {
      return Promise.reject(this.failAction(err, ctx))
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      return this.deadlines.watch(result as PromiseLike<unknown>, ctx.deadline, entry.key, this.failAction, ctx)
    }
    return Promise.resolve(result)
  }

  private runRemote(entry: Entry, msg: Message, call: CallMeta, parent: Context | undefined): Promise<unknown> {
    const remote = entry.remote!
    const id = call.id ?? newId()
    const meta: EnvelopeMeta & { deadline: number } = {
      id,
      trace: call.trace ?? id,
      deadline: call.deadline ?? this.deadlines.now() + call.timeoutMs,
      token: call.token,
      caller: call.caller,
    }
    // For outbound hooks (a rate limit by client address): no wire encodes them, so they stop here.
    if (call.headers !== undefined) meta.headers = call.headers
    if (call.responseHeaders !== undefined) meta.responseHeaders = call.responseHeaders
    let sent: Promise<Reply>
    try {
      sent = remote.deliver({ kind: 'act', msg, meta }, parent)
    } catch (err) {
      return Promise.reject(toStoaError(err))
    }
    const out = sent.then((reply) => {
      if (reply.ok) return reply.out
      throw StoaError.fromJSON(reply.error)
    })
    return this.deadlines.watch(out, meta.deadline, entry.key, this.failRemote, undefined)
  }

  /** Whether work may start now: undefined when running, a wait while starting. */
  private admit(): Promise<void> | undefined {
    const phase = this.life.phase
    if (phase === 'closed') return Promise.reject(closedError(this.name))
    if (phase === 'starting') return this.life.ready()
    return undefined
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
    return this.delivery.task(name, data, this.rootMeta(opts), undefined)
  }

  /**
   * Emits an event, `<entity>.<verb>`: every subscribing service receives it once. Resolves
   * once the event is accepted (by every client transport, or handed to local subscribers).
   *
   * @example
   * await stoa.emit('vote.recorded', { voter: 'v1' })
   */
  emit(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return this.delivery.event(name, data, this.rootMeta(opts), undefined)
  }

  /** Metadata of a task or event sent from outside any action. */
  private rootMeta(opts: CallOptions | undefined): FixedMeta {
    const id = opts?.id ?? newId()
    const timeoutMs = callTimeoutMs(opts?.timeoutMs) ?? this.timeoutMs
    return {
      id,
      trace: opts?.trace ?? id,
      deadline: this.clock.now() + timeoutMs,
      timeoutMs,
      token: opts?.token,
      caller: opts?.caller ?? this.name,
    }
  }

  // ---------------------------------------------------------------- transports

  /**
   * Runs an envelope that arrived through `transport` on this service's local actions, tasks
   * or subscribers, and answers with a reply (what `TransportHost.dispatch` does). Never
   * rejects. Refuses work with `CLOSED` once closing has begun, so a broker can give it to
   * another instance.
   */
  private receive(e: Envelope, transport: string | undefined): Promise<Reply> {
    const phase = this.life.phase
    if (phase === 'closing' || phase === 'closed') return Promise.resolve(errorReply(closedError(this.name)))
    if (phase === 'starting')
      return this.life.ready().then(
        () => this.receive(e, transport),
        (err) => errorReply(err),
      )
    const meta = e.meta
    const now = this.clock.now()
    const deadline = typeof meta.deadline === 'number' ? meta.deadline : now + this.timeoutMs
    const full = {
      id: meta.id,
      trace: meta.trace,
      deadline,
      timeoutMs: this.timeoutMs,
      token: meta.token,
      caller: meta.caller,
      headers: meta.headers,
      traceparent: meta.traceparent,
      tracestate: meta.tracestate,
      transport,
    }
    let work: Promise<unknown>
    try {
      if (e.msg === null || typeof e.msg !== 'object')
        throw new StoaError('INVALID_MESSAGE', 'the message must be an object')
      if (e.kind === 'act') {
        const msg = { ...e.msg }
        const route = this.registry.local.find(msg)
        if (route === undefined) throw notFound(msg, this.registry.local)
        work = this.run(route.data, msg, full, undefined)
      } else if (e.kind === 'send') {
        assertTaskName(e.name)
        const route = this.registry.local.find(taskMessage(e.name, e.msg))
        if (route === undefined) throw new StoaError('NOT_FOUND', `no handler for task "${e.name}"`, { task: e.name })
        work = this.run(route.data, mergeMessages(e.msg), { ...full, task: e.name }, undefined)
      } else if (e.kind === 'emit') {
        assertEventName(e.name)
        if (deadline <= now) throw timeoutError(e.name)
        work = this.delivery.subscribers(e.name, e.msg, full, e.each === 'instance' ? 'instance' : 'service')
      } else {
        throw new StoaError('INVALID_MESSAGE', `unknown envelope kind "${String((e as { kind: unknown }).kind)}"`)
      }
    } catch (err) {
      return Promise.resolve(errorReply(err))
    }
    return work.then(
      (out) => ({ ok: true as const, out: e.kind === 'act' ? out : undefined }),
      (err) => errorReply(err),
    )
  }

  // ---------------------------------------------------------------- introspection

  /**
   * Whether a plugin is loaded, by name (any loading) or `name$tag`.
   *
   * @example
   * if (!stoa.hasPlugin('health')) stoa.use(health)
   */
  hasPlugin(name: string): boolean {
    return this.plugins.has(name)
  }

  /** Whether an action is registered under exactly this pattern. */
  has(pattern: string | Message): boolean {
    return this.registry.all.exact(toPattern(pattern as string)) !== undefined
  }

  /** The action a message would run, or undefined. `exact` finds only the identical pattern. */
  find(pattern: string | Message, options?: { exact?: boolean }): ActionInfo | undefined {
    const route =
      options?.exact === true
        ? this.registry.all.exact(toPattern(pattern as string))
        : this.registry.all.find(toMessage(pattern))
    return route?.data.info
  }

  /** Every action whose pattern contains the given pairs (all actions without one). */
  list(pattern?: string | Message): ActionInfo[] {
    const partial = pattern === undefined ? undefined : toMessage(pattern)
    return this.registry.all.list(partial).map((r) => r.data.info)
  }

  /** The event subscriptions of this service. */
  listSubscriptions(): { name: string; plugin: string | undefined; each: 'service' | 'instance' }[] {
    return this.registry.listSubscriptions()
  }

  /** The hooks around this service's calls, outermost first, with the plugin of each. */
  listHooks(): { plugin: string; inbound: boolean; outbound: boolean }[] {
    return this.registry.hooks.map((h: HookEntry) => ({
      plugin: h.plugin,
      inbound: h.hooks.inbound !== undefined,
      outbound: h.hooks.outbound !== undefined,
    }))
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Closes the instance: refuses new work from transports, waits for in-flight actions (up to
   * `graceMs`), closes the transports, then runs close hooks in reverse order of loading.
   */
  async close(): Promise<void> {
    await this.life.close(async () => {
      const left = await this.deadlines.drain(this.graceMs)
      if (left > 0) this.log.warn({ pending: left, service: this.name }, 'closing with calls still in flight')
    })
    this.deadlines.stop(closedError(this.name))
  }
}

/** The action types a plugin adds. */
export type PluginTypes<P> = P extends Plugin<string, any, infer A, any> ? TypesOf<A> : {}

/** The handle a setup-form plugin gives (see `Stoa.handleOf`). */
export type HandleOf<P> = P extends Plugin<string, any, any, infer H> ? H : never

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

/** A message that could not be read (a getter threw while it was copied): the caller's fault. */
function unreadable(err: unknown): StoaError {
  if (err instanceof StoaError) return err
  return new StoaError('INVALID_MESSAGE', 'the message cannot be read', undefined, { cause: err })
}

/**
 * No action matches: the error names the pairs the lookup read (keys some pattern uses),
 * never the rest of the message, which goes back to the caller and into logs.
 */
function notFound(msg: Message, router: Router<Entry>): StoaError {
  const looked = describeMessage(msg, router.keys())
  return looked === ''
    ? new StoaError('NOT_FOUND', 'no action matches: the message has none of the keys the patterns use', {
        pattern: looked,
      })
    : new StoaError('NOT_FOUND', `no action matches "${looked}"`, { pattern: looked })
}

/** An action's declared `acts`: a list of pattern strings, each one that parses. */
function checkActs(acts: unknown, what: string): void {
  if (acts === undefined) return
  if (!Array.isArray(acts)) throw new StoaError('INVALID_PLUGIN', `${what}: acts must be a list of pattern strings`)
  for (const pattern of acts) {
    if (typeof pattern !== 'string')
      throw new StoaError('INVALID_PLUGIN', `${what}: acts must be a list of pattern strings`)
    try {
      toPattern(pattern)
    } catch (err) {
      throw new StoaError(
        'INVALID_PLUGIN',
        `${what}: acts holds "${pattern}", which is not a pattern: ${(err as Error).message}`,
      )
    }
  }
}
