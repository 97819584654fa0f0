import type { ActionOptions, BatchOptions } from './action.js'
import type { Context } from './context.js'
import type { Envelope, Reply } from './envelope.js'
import type { Message, Pattern } from './pattern.js'
import type { Schema } from './schema.js'

/** What `list`, `find` and hooks learn about a registered action. */
export interface ActionInfo {
  readonly pattern: Pattern
  /** The canonical pattern string. */
  readonly key: string
  /** The plugin that added it, if any. */
  readonly plugin: string | undefined
  readonly permission: string | undefined
  readonly description: string | undefined
  readonly schema: Schema | undefined
  /** Every option the action declared: `permission`, `public`, a plugin's own (a limit...). */
  readonly options: Readonly<ActionOptions>
  /** The transport that serves it, for an action reached through a client. */
  readonly transport: string | undefined
  /** How a batched task handler (`batchAction`) takes its deliveries; absent for any other. */
  readonly batch?: BatchOptions
}

/**
 * A local action's run as a hook sees it: the message in, the result (or a promise of it) out.
 * The innermost one validates the message against the action's schema and runs the action.
 */
export type RunAction = (msg: Message, ctx: Context) => unknown

/**
 * A remote call as a hook sees it: the envelope about to leave through a client transport, and
 * the context of the action making the call (undefined for a call made outside any action).
 */
export type Deliver = (envelope: Envelope, ctx: Context | undefined) => Promise<Reply>

/** Where an outbound hook's calls go. */
export interface RemoteTarget {
  /** The client transport's name: `http`, `amqp`, `lambda`. */
  readonly transport: string
}

/**
 * Code a plugin wraps around the call path. Each function is called once per action (inbound)
 * or per client transport (outbound), when the action is registered, the client starts or the
 * hook is added: never per call. It receives the next step and returns the step to run in its
 * place; returning `next` itself leaves that action alone at no cost. A step refuses a call by
 * throwing (or rejecting with) a `StoaError`.
 *
 * Hooks of plugins loaded first are outermost. A service with no hooks runs its actions with
 * no wrapper at all.
 *
 * @example
 * const timing = definePlugin({
 *   name: 'timing',
 *   hooks: {
 *     inbound: (next, action) => async (msg, ctx) => {
 *       const start = performance.now()
 *       try {
 *         return await next(msg, ctx)
 *       } finally {
 *         console.log(action.key, performance.now() - start)
 *       }
 *     },
 *   },
 * })
 */
export interface Hooks {
  /**
   * Wraps a local action's run (an act, a task or an event subscriber), after the envelope is
   * decoded and before the message is validated: where a token is verified and `ctx.identity`
   * set, a permission checked, a bulkhead entered, a span started.
   */
  readonly inbound?: (next: RunAction, action: ActionInfo) => RunAction
  /** Wraps the calls that leave through a client transport: where a breaker sits. */
  readonly outbound?: (next: Deliver, target: RemoteTarget) => Deliver
}

/** A plugin's hooks as the kernel keeps them. */
export interface HookEntry {
  /** The plugin that registered them (`name` or `name$tag`). */
  readonly plugin: string
  readonly hooks: Hooks
}

/**
 * Wraps `base` in every inbound hook, the first registered outermost. With no hooks this is
 * `base` itself.
 */
export function composeInbound(base: RunAction, hooks: readonly HookEntry[], action: ActionInfo): RunAction {
  return compose(base, hooks, (h) => h.inbound, action)
}

/** Wraps a client's `deliver` in every outbound hook, the first registered outermost. */
export function composeOutbound(base: Deliver, hooks: readonly HookEntry[], target: RemoteTarget): Deliver {
  return compose(base, hooks, (h) => h.outbound, target)
}

function compose<F, T>(
  base: F,
  hooks: readonly HookEntry[],
  pick: (h: Hooks) => ((next: F, about: T) => F) | undefined,
  about: T,
): F {
  let step = base
  for (let i = hooks.length - 1; i >= 0; i--) {
    const wrap = pick(hooks[i]!.hooks)
    if (wrap !== undefined) step = wrap(step, about)
  }
  return step
}

/**
 * Runs a step of the call path, `step(a, b)` (a hook's `next(msg, ctx)`, a token check...),
 * then `ok(out, a, b, t)` when it succeeds or `failed(err, a, b, t)` when it throws or rejects,
 * and returns what they return: pass `out` on (or run what comes next) from `ok`, rethrow (or
 * recover) from `failed`. A step that answers synchronously is followed synchronously, with no
 * promise made; only a promise is waited on. `t` carries what a call needs beyond `a` and `b`
 * (a start time, a span), so that `ok` and `failed` can be made once per action, not per call.
 *
 * @example
 * const timing = definePlugin({
 *   name: 'timing',
 *   hooks: {
 *     inbound: (next, action) => {
 *       const done = (out: unknown, _msg: Message, _ctx: Context, start: number) => {
 *         console.log(action.key, performance.now() - start)
 *         return out
 *       }
 *       const failed = (err: unknown, _msg: Message, _ctx: Context, start: number) => {
 *         console.log(action.key, 'failed after', performance.now() - start)
 *         throw err
 *       }
 *       return (msg, ctx) => runNext(next, msg, ctx, performance.now(), done, failed)
 *     },
 *   },
 * })
 */
export function runNext<A, B, T, R = unknown>(
  step: (a: A, b: B) => unknown,
  a: A,
  b: B,
  t: T,
  ok: (out: any, a: A, b: B, t: T) => R,
  failed: (err: unknown, a: A, b: B, t: T) => R,
): R | Promise<Awaited<R>> {
  let out: unknown
  try {
    out = step(a, b)
  } catch (err) {
    return failed(err, a, b, t)
  }
  if (out === null || typeof out !== 'object' || typeof (out as PromiseLike<unknown>).then !== 'function') {
    return ok(out, a, b, t)
  }
  return (out as Promise<unknown>).then(
    (v) => ok(v, a, b, t),
    (err: unknown) => failed(err, a, b, t),
  ) as Promise<Awaited<R>>
}

let turn = 0
let turnEnding = false
const endTurn = (): void => {
  turnEnding = false
  turn++
}

/**
 * A number that changes from one turn of the event loop to the next, for a hook that reads
 * something once per turn instead of on every call (a clock, a logger's level): the calls of
 * one turn (a batch of microtasks, however long) see the same number; the first call after
 * the turn ends sees a new one. It costs a `setImmediate` per turn in which it is asked.
 *
 * @example
 * let seen = -1
 * let level = 0
 * const levelNow = (log: { levelVal: number }) => {
 *   const t = eventLoopTurn()
 *   if (t !== seen) {
 *     seen = t
 *     level = log.levelVal
 *   }
 *   return level
 * }
 */
export function eventLoopTurn(): number {
  if (!turnEnding) {
    turnEnding = true
    setImmediate(endTurn)
  }
  return turn
}
