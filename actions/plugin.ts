import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Action, ActionLike, ActionOptions, SubscribeOptions } from './action.js'
import type { CallOptions } from './context.js'
import type { Clock } from './deadlines.js'
import { StoaError, toStoaError } from './errors.js'
import type { Readiness, ReadyCheck } from './health.js'
import type { Hooks } from './hooks.js'
import type { Logger } from './logger.js'
import type { Observe } from './observe.js'
import type { Message } from './pattern.js'
import type { SagaDefinition, SagaRuntime, SagaServing } from './saga.js'
import type { Schema, SchemaInput, SchemaOutput } from './schema.js'
import { describeIssues, isSchema } from './schema.js'

/** What `init` learns about this loading of the plugin. */
export interface PluginInfo {
  readonly name: string
  readonly tag: string | undefined
  /** `name` or `name$tag`. */
  readonly fullname: string
}

/**
 * A stoa plugin: a name, typed options, actions, hooks, and start and stop hooks; in the setup
 * form, one `setup` function that makes them all, once per loading, and may hand out a handle
 * of type `H` (see `Stoa.handleOf`).
 */
export interface Plugin<
  N extends string = string,
  O extends Schema | undefined = Schema | undefined,
  A = {},
  H = undefined,
> {
  readonly kind: 'stoa-plugin'
  readonly name: N
  readonly options: O
  readonly dependencies: readonly string[]
  readonly actions: A | ((options: OptionsOf<O>, info: PluginInfo) => A) | undefined
  readonly init: PluginInit<O> | undefined
  readonly hooks: Hooks | ((options: OptionsOf<O>, info: PluginInfo) => Hooks) | undefined
  readonly sagas: PluginSagas | ((options: OptionsOf<O>, info: PluginInfo) => PluginSagas) | undefined
  /** The setup form's one function; undefined for a plugin of the object form. */
  readonly setup: PluginSetup<O, A, H> | undefined
}

/**
 * What a plugin's `setup` learns of the loading it serves: the service, where it logs, and the
 * plugin's own name and tag.
 */
export interface SetupHost {
  /** The service's name. */
  readonly name: string
  /** Where the service logs. */
  readonly log: Logger
  /** This loading of the plugin: `name`, `tag`, `fullname`. */
  readonly plugin: PluginInfo
  /** The instance's clock: a plugin's own timers and timestamps go through it (see `Stoa.clock`). */
  readonly clock: Clock
}

/**
 * The setup form of a plugin: called once per loading, in `use()`, with the validated options;
 * whatever the parts it returns share lives in its closure, one per loading.
 */
export type PluginSetup<O extends Schema | undefined, A, H> = (
  options: OptionsOf<O>,
  host: SetupHost,
) => PluginParts<A, H>

/** What a plugin's `setup` returns, every part optional. */
export interface PluginParts<A = {}, H = undefined> {
  /** Actions to register, by pattern (typed for `act`). */
  readonly actions?: A & Record<string, ActionLike>
  /** Code wrapped around every call (see {@link Hooks}). */
  readonly hooks?: Hooks
  /**
   * Event subscriptions, made at `use()` like the actions (so every transport, whenever it
   * starts, knows them): each as `stoa.on(event, handler, { each })` makes it.
   */
  readonly subscriptions?: readonly PluginSubscription[]
  /** Sagas to register, by the pattern of their trigger (see {@link PluginSagas}). */
  readonly sagas?: PluginSagas
  /** Runs in `ready()`, as the object form's `init` does; may return a close hook. */
  readonly init?: (stoa: PluginHost) => void | CloseHook | Promise<void | CloseHook>
  /** Subscribes to what transports report (deliveries received, retried...; see {@link Observe}). */
  readonly observe?: Observe
  /** What the plugin serves over HTTP beside the service's own routes (see {@link HttpParts}). */
  readonly http?: HttpParts
  /** What `stoa.handleOf(plugin)` returns: the plugin's own API for this loading. */
  readonly handle?: H
}

/**
 * A plugin's sagas, by the pattern of the action that starts each: every definition as
 * `stoa.saga(pattern, definition)` takes it (`id`, `version`, `run`, `acts`), registered at
 * `use()`, so a service module's plugin brings its sagas under `stoa serve`. They run on the
 * saga plugin's engine (`stoa/saga`), which the service loads too.
 *
 * @example
 * const checkout = definePlugin({
 *   name: 'checkout',
 *   sagas: {
 *     'role:checkout,cmd:place': {
 *       id: (msg) => `order:${String(msg.orderId)}`,
 *       version: 1,
 *       acts: ['role:payment,cmd:charge', 'role:payment,cmd:refund'],
 *       async run(msg, saga) {
 *         await saga.act('charge', { role: 'payment', cmd: 'charge', orderId: msg.orderId },
 *           { undo: () => ({ role: 'payment', cmd: 'refund', orderId: msg.orderId }) })
 *         return { orderId: msg.orderId }
 *       },
 *     },
 *   },
 * })
 */
export type PluginSagas = Readonly<Record<string, SagaDefinition<any, unknown>>>

/** One event subscription of a setup-form plugin (see `Stoa.on`). */
export interface PluginSubscription extends SubscribeOptions {
  readonly event: string
  readonly handler: Action<Message, unknown>
}

/** A `(req, res)` handler for node:http or express. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void

/** A `(req, res, next)` middleware for node:http (serveWeb's `before`) or express. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void

/**
 * What a plugin answers over HTTP, for whoever runs the service's HTTP servers (`stoa serve`
 * mounts them on every server it starts; see `Stoa.httpParts`).
 */
export interface HttpParts {
  /** `GET` paths answered on every HTTP server: `/metrics`, say. */
  readonly endpoints?: Readonly<Record<string, NodeHandler>>
  /**
   * Middleware put in front of the web plugin's routes, made with their table (method and path
   * as the route map writes them): counting responses by route, say.
   */
  readonly web?: (routes: readonly { method: string; path: string }[]) => NodeMiddleware
  /**
   * WebSocket upgrades by path, taken by the web plugin's servers (`serveWeb`, `upgradeWeb`)
   * before their stream routes: a GraphQL subscription endpoint, say.
   */
  readonly upgrades?: Readonly<Record<string, UpgradeHandler>>
}

/** Takes a node:http `upgrade` request: the socket is the handler's from then on. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/**
 * Runs when the plugin starts (in `ready()`), with the kernel and the validated options. It may
 * return a close hook; hooks run in reverse order of loading when the kernel closes.
 */
export type PluginInit<O extends Schema | undefined> = (
  stoa: PluginHost,
  options: OptionsOf<O>,
  info: PluginInfo,
) => void | CloseHook | Promise<void | CloseHook>

/** A function run at close. */
export type CloseHook = () => void | Promise<void>

/** The validated options of a plugin: the schema's output, or an empty object. */
export type OptionsOf<O> = O extends Schema ? Readonly<SchemaOutput<O>> : Readonly<Record<string, never>>

/**
 * The arguments after the plugin in `use(plugin, ...)`: options are required exactly when the
 * schema has required fields, so a missing required option does not compile.
 */
export type UseArgs<P> =
  P extends Plugin<string, infer O, any, any>
    ? O extends Schema
      ? {} extends SchemaInput<O>
        ? [options?: SchemaInput<O>, use?: UseOptions]
        : [options: SchemaInput<O>, use?: UseOptions]
      : [options?: Record<string, never>, use?: UseOptions]
    : [options?: Record<string, unknown>, use?: UseOptions]

/** How a plugin is loaded. */
export interface UseOptions {
  /** Load the plugin once more under this tag. */
  tag?: string
}

/** The part of a kernel a plugin's `init` uses. */
export interface PluginHost {
  readonly name: string
  /** Where the service logs. */
  readonly log: Logger
  /** The instance's clock: a plugin's own timers and timestamps go through it (see `Stoa.clock`). */
  readonly clock: Clock
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): unknown
  act(pattern: string | Message, extra?: Message, opts?: CallOptions): Promise<unknown>
  on(event: string, handler: Action<Message, unknown>, options?: SubscribeOptions): unknown
  onClose(hook: CloseHook): unknown
  /** Registers a readiness check (see `Stoa.addCheck`): the plugin's database, say. */
  addCheck(name: string, check: ReadyCheck): unknown
  /** Whether the instance can take work now (see `Stoa.readiness`). */
  readiness(): Promise<Readiness>
  /** Sends a task from outside any action (see `Stoa.send`): an outbox relay, say. */
  send(name: string, data?: Message, opts?: CallOptions): Promise<void>
  /** Emits an event from outside any action (see `Stoa.emit`). */
  emit(name: string, data?: Message, opts?: CallOptions): Promise<void>
  /** Stops the listeners taking deliveries while `name` holds them (see `Stoa.pauseIntake`). */
  pauseIntake(name: string, reason: string): unknown
  /** Lifts the hold `name` put (see `Stoa.resumeIntake`). */
  resumeIntake(name: string): unknown
  /** Whether a plugin is loaded, by name or `name$tag`. */
  hasPlugin(name: string): boolean
  /** The handle of another setup-form plugin loaded here (see `Stoa.handleOf`). */
  handleOf<P extends Plugin<string, any, any, any>>(plugin: P): P extends Plugin<string, any, any, infer H> ? H : never
  /** Serves the instance's sagas (`Stoa.saga`) with `runtime`: the saga plugin's door. */
  serveSagas(runtime: SagaRuntime): SagaServing
}

/**
 * Defines a plugin. Its options are declared once, as a schema with defaults, and validated
 * when it is loaded. The object form declares its actions (typed for `act`), hooks and `init`
 * apart, which suits a plugin with no state shared between them:
 *
 * @example
 * const math = definePlugin({
 *   name: 'math',
 *   actions: {
 *     'role:math,cmd:sum': action({
 *       schema: z.object({ left: z.number(), right: z.number() }),
 *       handler: (msg) => ({ answer: msg.left + msg.right }),
 *     }),
 *   },
 * })
 */
export function definePlugin<
  const N extends string,
  A extends Record<string, ActionLike> = {},
  O extends Schema | undefined = undefined,
>(def: {
  name: N
  options?: O
  dependencies?: readonly string[]
  actions?: (A & Record<string, ActionLike>) | ((options: OptionsOf<O>, info: PluginInfo) => A)
  init?: PluginInit<O>
  /** Code wrapped around every call (see {@link Hooks}); a function when it needs the options. */
  hooks?: Hooks | ((options: OptionsOf<O>, info: PluginInfo) => Hooks)
  /** Sagas by trigger pattern (see {@link PluginSagas}); a function when they need the options. */
  sagas?: PluginSagas | ((options: OptionsOf<O>, info: PluginInfo) => PluginSagas)
  setup?: undefined
}): Plugin<N, O, A>
/**
 * Defines a plugin in the setup form: one `setup(options, host)` per loading returns its
 * actions, hooks, `init`, transport observation and HTTP parts, and a handle, all sharing one
 * closure, the way a fastify plugin is one function of its instance. `host` gives the service's
 * `name` and `log`.
 *
 * @example
 * const counter = definePlugin({
 *   name: 'counter',
 *   setup: (_options, host) => {
 *     let calls = 0
 *     return {
 *       hooks: {
 *         inbound: (next) => (msg, ctx) => {
 *           calls++
 *           return next(msg, ctx)
 *         },
 *       },
 *       observe: (transport) => ({ reconnected: () => host.log.warn({ transport }, 'reconnected') }),
 *       handle: { calls: () => calls },
 *     }
 *   },
 * })
 * const stoa = createStoa().use(counter)
 * stoa.handleOf(counter).calls()
 */
export function definePlugin<
  const N extends string,
  A extends Record<string, ActionLike> = {},
  O extends Schema | undefined = undefined,
  H = undefined,
>(def: {
  name: N
  options?: O
  dependencies?: readonly string[]
  setup: PluginSetup<O, A, H>
  actions?: undefined
  init?: undefined
  hooks?: undefined
  sagas?: undefined
}): Plugin<N, O, A, H>
export function definePlugin(def: {
  name: string
  options?: Schema
  dependencies?: readonly string[]
  actions?: unknown
  init?: PluginInit<Schema | undefined>
  hooks?: Hooks | ((options: never, info: PluginInfo) => Hooks)
  sagas?: PluginSagas | ((options: never, info: PluginInfo) => PluginSagas)
  setup?: PluginSetup<Schema | undefined, unknown, unknown>
}): Plugin<string, Schema | undefined, unknown, unknown> {
  if (typeof def.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(def.name)) {
    throw new StoaError('INVALID_PLUGIN', `plugin name "${String(def.name)}" must be lowercase kebab-case`)
  }
  if (def.options !== undefined && !isSchema(def.options)) {
    throw new StoaError('INVALID_PLUGIN', `plugin "${def.name}": options must be a Standard Schema (zod, valibot, ...)`)
  }
  if (def.setup !== undefined) {
    if (typeof def.setup !== 'function') {
      throw new StoaError('INVALID_PLUGIN', `plugin "${def.name}": setup must be a function`, { plugin: def.name })
    }
    if (def.actions !== undefined || def.hooks !== undefined || def.init !== undefined || def.sagas !== undefined) {
      throw new StoaError(
        'INVALID_PLUGIN',
        `plugin "${def.name}": with setup, return actions, hooks, sagas and init from it rather than beside it`,
        { plugin: def.name },
      )
    }
  }
  return Object.freeze({
    kind: 'stoa-plugin',
    name: def.name,
    options: def.options,
    dependencies: def.dependencies ?? [],
    actions: def.actions,
    init: def.init as PluginInit<Schema | undefined> | undefined,
    hooks: def.hooks as Plugin['hooks'],
    sagas: def.sagas as Plugin['sagas'],
    setup: def.setup,
  })
}

/** Whether a value is a plugin made by `definePlugin`. */
export function isPlugin(value: unknown): value is Plugin<string, Schema | undefined, unknown, unknown> {
  return value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'stoa-plugin'
}

/**
 * Validates a plugin's options at load time. The result is frozen. A failure names the plugin
 * and every failing option path: `INVALID_OPTIONS: plugin "db": option "pool.max": ...`.
 */
export function validateOptions(
  plugin: Plugin<string, Schema | undefined, unknown, unknown>,
  input: unknown,
): Readonly<Record<string, unknown>> {
  if (plugin.options === undefined) return Object.freeze({ ...(input as Record<string, unknown> | undefined) })
  const result = plugin.options['~standard'].validate(input ?? {})
  if (result instanceof Promise) {
    throw new StoaError('INVALID_PLUGIN', `plugin "${plugin.name}": its options schema must validate synchronously`)
  }
  if (result.issues !== undefined) {
    const { fields, text, messages } = describeIssues(result.issues, { value: input ?? {} })
    const named = result.issues.length === 1 && fields[0] !== '' ? `option "${fields[0]}": ${messages[0]}` : text
    throw new StoaError('INVALID_OPTIONS', `plugin "${plugin.name}": ${named}`, { plugin: plugin.name, fields })
  }
  return deepFreeze(result.value as Record<string, unknown>)
}

/**
 * Freezes the options' data: plain objects and arrays. A live object passed in (a saga engine,
 * an open database) is its owner's and keeps working as it is.
 */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && isData(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

function isData(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null || Array.isArray(value)
}

/** How a plugin's `init` is run: attributed to the plugin, its close hook collected. */
type PluginStart = () => Promise<void | CloseHook>

/**
 * What loads plugins into an instance: reserves their names, attributes the actions they add,
 * and queues their `init` for `ready()`. The Seneca adapter loads through this, not through
 * the kernel class.
 */
export interface PluginLoader {
  /** Reserves a plugin's full name; loading one twice needs a tag. */
  claim(name: string, tag: string | undefined): PluginInfo
  /** Records a loaded plugin and queues its init (if any) for `ready()`. */
  record(info: PluginInfo, init: PluginStart | undefined): void
  /** Runs `fn` with the actions it adds attributed to plugin `fullname`. */
  attribute<R>(fullname: string, fn: () => R): R
  /**
   * What a plugin engine keeps for this instance (the Seneca layer's bridge, say): made by
   * `create` the first time `key` is asked for, the same object afterwards. Kept here so that
   * such state lives and dies with its instance, never in a module.
   */
  state<S>(key: symbol, create: () => S): S
}

/** The plugins of one instance, and the one whose actions are being added now. */
export class PluginSet implements PluginLoader {
  private readonly loaded = new Map<string, PluginInfo>()
  private readonly states = new Map<symbol, unknown>()
  /** The plugin actions added now belong to, for `list()`. */
  current: string | undefined
  private readonly queue: (start: () => Promise<void>) => void
  private readonly collect: (hook: CloseHook) => void

  /**
   * @param queue takes each plugin's start, to run in `ready()`
   * @param collect takes the close hook a start returned
   */
  constructor(queue: (start: () => Promise<void>) => void, collect: (hook: CloseHook) => void) {
    this.queue = queue
    this.collect = collect
  }

  /** Whether a plugin (by name, or `name$tag`) is loaded. */
  has(name: string): boolean {
    return this.loaded.has(name)
  }

  claim(name: string, tag: string | undefined): PluginInfo {
    const fullname = tag === undefined ? name : `${name}$${tag}`
    if (this.loaded.has(fullname)) {
      throw new StoaError('INVALID_PLUGIN', `plugin "${fullname}" is already loaded; load it again with a tag`, {
        plugin: fullname,
      })
    }
    return { name, tag, fullname }
  }

  record(info: PluginInfo, init: PluginStart | undefined): void {
    this.loaded.set(info.fullname, info)
    if (info.tag !== undefined && !this.loaded.has(info.name)) this.loaded.set(info.name, info)
    if (init === undefined) return
    this.queue(async () => {
      let hook: void | CloseHook
      try {
        hook = await this.attributeAsync(info.fullname, init)
      } catch (err) {
        const e = toStoaError(err)
        const text = err instanceof Error ? err.message : String(err)
        throw new StoaError(
          e.code === 'ACTION_FAILED' ? 'INVALID_PLUGIN' : e.code,
          `plugin "${info.fullname}" failed to start: ${text}`,
          {
            plugin: info.fullname,
          },
          { cause: err },
        )
      }
      if (typeof hook === 'function') this.collect(hook)
    })
  }

  state<S>(key: symbol, create: () => S): S {
    if (!this.states.has(key)) this.states.set(key, create())
    return this.states.get(key) as S
  }

  attribute<R>(fullname: string, fn: () => R): R {
    const before = this.current
    this.current = fullname
    try {
      return fn()
    } finally {
      this.current = before
    }
  }

  private async attributeAsync<R>(fullname: string, fn: () => Promise<R>): Promise<R> {
    // Actions added synchronously at the start of init are attributed to the plugin; after its
    // first await they are not, which only affects `list()` output, never routing.
    const before = this.current
    this.current = fullname
    try {
      const p = fn()
      this.current = before
      return await p
    } finally {
      this.current = before
    }
  }
}
