import type { Context } from './context.js'
import type { Message } from './pattern.js'
import type { Schema, SchemaInput, SchemaOutput } from './schema.js'

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
  /** Callable without any identity or permission: what the authz plugin requires be said aloud. */
  public?: boolean
  /**
   * The schema of the action's result: its type is inferred from it, and with result checks on
   * (the instance's `checkResults`) a result that does not match fails `INVALID_RESULT` naming
   * the fields. The result is checked, never replaced: callers get what the action returned.
   */
  result?: Schema
  /** The tasks the action sends, by name, with the schema of each one's data: for the contract. */
  sends?: Readonly<Record<string, Schema | null>>
  /** The events the action emits, by name, with the schema of each one's data: for the contract. */
  emits?: Readonly<Record<string, Schema | null>>
  /**
   * The patterns the action calls with `ctx.act` (`'role:auth,cmd:login'`): `stoa serve` warns at
   * start about one that no action of the service and no client it declares answers, which
   * would otherwise fail `NOT_FOUND` on the first call.
   */
  acts?: readonly string[]
}

/** How an event subscription is delivered (see `Stoa.on`). */
export interface SubscribeOptions {
  /**
   * Who hears each event: `service` (default), one instance of this service, durably, with
   * retries and a dead-letter queue; `instance`, every running instance of this service, at
   * most once: an instance that is down or too slow misses it, nothing is retried. For what
   * each instance holds for its own clients (browsers on a gateway, a cache).
   */
  each?: 'service' | 'instance'
}

/** An action with its declarations, as `action()` builds it. */
export interface ActionDef<In = Message, Out = unknown> extends ActionOptions {
  readonly handler: Action<any, Out>
  /** Set by `batchAction`: the task's deliveries reach its batch handler together. */
  readonly batch?: BatchSpec
  /** Type-level only: the message the action accepts. */
  readonly '~in'?: In
}

/**
 * Declares a typed action: the message is checked against `schema` before `handler` runs, and
 * `act` on a kernel or plugin built from it checks its message and infers its result at
 * compile time. With a `result` schema the handler must return what it accepts, and the result
 * type is the schema's.
 *
 * @example
 * const sum = action({
 *   schema: z.object({ left: z.number(), right: z.number() }),
 *   result: z.object({ answer: z.number() }),
 *   handler: (msg) => ({ answer: msg.left + msg.right }),
 * })
 */
export function action<S extends Schema, RS extends Schema>(
  def: ActionOptions<S> & {
    schema: S
    result: RS
    handler: (msg: SchemaOutput<S> & Message, ctx: Context) => SchemaInput<RS> | Promise<SchemaInput<RS>>
  },
): ActionDef<SchemaInput<S>, SchemaInput<RS>>
export function action<RS extends Schema>(
  def: ActionOptions<undefined> & {
    result: RS
    handler: (msg: Message, ctx: Context) => SchemaInput<RS> | Promise<SchemaInput<RS>>
  },
): ActionDef<Message, SchemaInput<RS>>
export function action<S extends Schema, R>(
  def: ActionOptions<S> & {
    schema: S
    result?: undefined
    handler: (msg: SchemaOutput<S> & Message, ctx: Context) => R | Promise<R>
  },
): ActionDef<SchemaInput<S>, Awaited<R>>
export function action<R>(
  def: ActionOptions<undefined> & { result?: undefined; handler: (msg: Message, ctx: Context) => R | Promise<R> },
): ActionDef<Message, Awaited<R>>
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

/** How a batched task handler takes its deliveries: up to `max` at once, waiting at most `waitMs`. */
export interface BatchOptions {
  /** The most deliveries one batch holds, 1 to 10 000. */
  readonly max: number
  /**
   * How long the first delivery of a batch waits for others before the batch runs anyway, ms
   * (0 to 60 000). A full batch runs at once.
   */
  readonly waitMs: number
}

/** One delivery of a batch: its validated message and the context of its own call. */
export interface BatchItem<M = Message> {
  readonly msg: M
  /** The delivery's own call: its id, trace, identity and deadline. */
  readonly ctx: Context
}

/**
 * A batched task handler: gets the deliveries of one batch at once. Resolving means every one
 * of them is done (acknowledged together); throwing means the batch is split (see
 * `batchAction`).
 */
export type BatchHandler<M = Message> = (items: readonly BatchItem<M>[]) => void | Promise<void>

/** A batched action's batching, as `batchAction` records it on the definition. */
export interface BatchSpec extends BatchOptions {
  readonly handler: BatchHandler<any>
}
