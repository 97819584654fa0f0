import type { Context } from './context.js'
import { StoaError } from './errors.js'
import type { Message } from './pattern.js'
import type { Schema, SchemaInput, SchemaOutput } from './schema.js'
import { describeIssues, isSchema } from './schema.js'

/** An action: receives the message and the context, returns (or resolves to) the result. */
export type Action<M = Message, R = unknown> = (msg: M, ctx: Context) => R | Promise<R>

/** What an action may declare besides its function. */
export interface ActionOptions<S extends Schema | undefined = Schema | undefined> {
  /** Checked before the action runs; the action receives the schema's output. */
  schema?: S
  /** The permission a caller needs (checked by the authz plugin). */
  permission?: string
  /** Default time limit for calls to this action, overriding the instance's. */
  timeoutMs?: number
  /** One line for `stoa list`. */
  description?: string
}

/** An action with its declarations, as `action()` builds it. */
export interface ActionDef<In = Message, Out = unknown> extends ActionOptions {
  readonly handler: Action<any, Out>
  /** Type-level only: the message the action accepts. */
  readonly '~in'?: In
}

/**
 * Declares a typed action: the message is checked against `schema` before `handler` runs, and
 * `act` on a kernel or plugin built from it checks its message and infers its result at
 * compile time.
 *
 * @example
 * const sum = action({
 *   schema: z.object({ left: z.number(), right: z.number() }),
 *   handler: (msg) => ({ answer: msg.left + msg.right }),
 * })
 */
export function action<S extends Schema, R>(def: ActionOptions<S> & {
  schema: S
  handler: (msg: SchemaOutput<S> & Message, ctx: Context) => R | Promise<R>
}): ActionDef<SchemaInput<S>, Awaited<R>>
export function action<R>(def: ActionOptions<undefined> & { handler: (msg: Message, ctx: Context) => R | Promise<R> }): ActionDef<Message, Awaited<R>>
export function action(def: ActionOptions & { handler: Action }): ActionDef {
  return def
}

/** An action as a plugin or `add` accepts it: a plain function or an `action()` definition. */
export type ActionLike = Action<Message, any> | ActionDef<any, any>

/** The types of the actions a kernel knows by pattern string: what each accepts and returns. */
export type ActionTypes = Record<string, { in: unknown; out: unknown }>

/** The action types of an action map. Plain functions accept any message. */
export type TypesOf<A> = {
  [K in keyof A & string]: A[K] extends ActionDef<infer I, infer O>
    ? { in: I; out: O }
    : A[K] extends Action<any, infer R>
      ? { in: Message; out: Awaited<R> }
      : never
}

/** What `init` learns about this loading of the plugin. */
export interface PluginInfo {
  readonly name: string
  readonly tag: string | undefined
  /** `name` or `name$tag`. */
  readonly fullname: string
}

/** A stoa plugin: a name, typed options, actions, and start and stop hooks. */
export interface Plugin<N extends string = string, O extends Schema | undefined = Schema | undefined, A = {}> {
  readonly kind: 'stoa-plugin'
  readonly name: N
  readonly options: O
  readonly dependencies: readonly string[]
  readonly actions: A | ((options: OptionsOf<O>, info: PluginInfo) => A) | undefined
  readonly init: PluginInit<O> | undefined
}

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

/** The options a caller passes to `use`: the schema's input. */
export type OptionsInput<O> = O extends Schema ? SchemaInput<O> : Record<string, never> | undefined

/**
 * The arguments after the plugin in `use(plugin, ...)`: options are required exactly when the
 * schema has required fields, so a missing required option does not compile.
 */
export type UseArgs<P> = P extends Plugin<string, infer O, any>
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
  add(pattern: string | Message, action: ActionLike, options?: ActionOptions): unknown
  act(pattern: string | Message, extra?: Message): Promise<unknown>
  on(event: string, handler: Action<Message, unknown>): unknown
  onClose(hook: CloseHook): unknown
}

/**
 * Defines a plugin. Its options are declared once, as a schema with defaults, and validated
 * when it is loaded; its actions are declared in `actions` (typed for `act`) or added in
 * `init`.
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
export function definePlugin<const N extends string, A extends Record<string, ActionLike> = {}, O extends Schema | undefined = undefined>(def: {
  name: N
  options?: O
  dependencies?: readonly string[]
  actions?: (A & Record<string, ActionLike>) | ((options: OptionsOf<O>, info: PluginInfo) => A)
  init?: PluginInit<O>
}): Plugin<N, O, A> {
  if (typeof def.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(def.name)) {
    throw new StoaError('INVALID_PLUGIN', `plugin name "${String(def.name)}" must be lowercase kebab-case`)
  }
  if (def.options !== undefined && !isSchema(def.options)) {
    throw new StoaError('INVALID_PLUGIN', `plugin "${def.name}": options must be a Standard Schema (zod, valibot, ...)`)
  }
  return Object.freeze({
    kind: 'stoa-plugin',
    name: def.name,
    options: def.options as O,
    dependencies: def.dependencies ?? [],
    actions: def.actions,
    init: def.init,
  })
}

/** Whether a value is a plugin made by `definePlugin`. */
export function isPlugin(value: unknown): value is Plugin<string, Schema | undefined, unknown> {
  return value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'stoa-plugin'
}

/**
 * Validates a plugin's options at load time. The result is frozen. A failure names the plugin
 * and every failing option path: `INVALID_OPTIONS: plugin "db": option "pool.max": ...`.
 */
export function validateOptions(plugin: Plugin<string, Schema | undefined, unknown>, input: unknown): Readonly<Record<string, unknown>> {
  if (plugin.options === undefined) return Object.freeze({ ...(input as Record<string, unknown> | undefined) })
  const result = plugin.options['~standard'].validate(input ?? {})
  if (result instanceof Promise) {
    throw new StoaError('INVALID_PLUGIN', `plugin "${plugin.name}": its options schema must validate synchronously`)
  }
  if (result.issues !== undefined) {
    const { fields, text } = describeIssues(result.issues)
    const named = result.issues.length === 1 && fields[0] !== '' ? `option "${fields[0]}": ${result.issues[0]!.message}` : text
    throw new StoaError('INVALID_OPTIONS', `plugin "${plugin.name}": ${named}`, { plugin: plugin.name, fields })
  }
  return deepFreeze(result.value as Record<string, unknown>)
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
