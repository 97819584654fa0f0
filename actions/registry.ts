import type { Action, ActionOptions, BatchSpec } from './action.js'
import { Batcher } from './batch.js'
import type { Clock } from './deadlines.js'
import { systemClock } from './deadlines.js'
import type { SubscriptionEach } from './envelope.js'
import { StoaError } from './errors.js'
import type { ActionInfo, Deliver, HookEntry, Hooks, RunAction } from './hooks.js'
import { composeInbound } from './hooks.js'
import { matchesSubscription } from './names.js'
import type { Message, Pattern } from './pattern.js'
import { patternString } from './pattern.js'
import { Router } from './router.js'
import type { Schema } from './schema.js'
import { describeIssues, validate } from './schema.js'

/** Where a client-pinned action goes: a transport's deliver, wrapped in the outbound hooks. */
export interface Remote {
  readonly transport: string
  /** Replaced when the client starts and when a hook is added. */
  deliver: Deliver
}

/** One registered action, local or remote, with everything a call needs worked out. */
export interface Entry {
  readonly pattern: Pattern
  readonly key: string
  readonly timeoutMs: number | undefined
  readonly prior: Entry | undefined
  readonly remote: Remote | undefined
  /** What `list`, `find` and hooks see. */
  readonly info: ActionInfo
  /** The action alone: validates the message, then runs the handler. */
  readonly base: RunAction
  /** `base` inside every inbound hook: what a call runs. Recomposed when a hook is added. */
  run: RunAction
}

/** An event subscription. */
export interface Subscription {
  readonly name: string
  readonly plugin: string | undefined
  readonly each: SubscriptionEach
  readonly entry: Entry
}

/** An action as `add` hands it to the registry. */
export type ActionParts = ActionOptions & { readonly handler: Action<any, unknown>; readonly batch?: BatchSpec }

/**
 * The service's actions, event subscriptions and hooks: registration, `prior` resolution,
 * hook composition and lookups. Everything a call needs is worked out here, once.
 */
export class Registry {
  /** Every action, local or reached through a client: what `act` looks up. */
  readonly all = new Router<Entry>()
  /** Local actions only: what a transport's incoming requests look up. */
  readonly local = new Router<Entry>()
  private readonly subscriptions: Subscription[] = []
  private readonly hookList: HookEntry[] = []
  /** Local actions and subscribers, in registration order: what a new hook wraps. */
  private readonly runnable: Entry[] = []
  /**
   * Whether actions added from now on check their results against their `result` schema. The
   * kernel sets it once, before any action is added; off, an action runs with no wrapper for it.
   */
  checkResults = false
  /** Where batched actions set the timer of a batch waiting for more deliveries; the kernel's. */
  clock: Clock = systemClock

  /** Registers a local action; an earlier action it overrides becomes its `prior`. */
  addAction(pattern: Pattern, parts: ActionParts, plugin: string | undefined): void {
    const { handler, batch, ...options } = parts
    const key = patternString(pattern)
    if (batch !== undefined && typeof pattern.task !== 'string')
      throw new StoaError('INVALID_PLUGIN', `action "${key}": only a task handler ("task:...") takes batches`, {
        pattern: key,
      })
    // A batched action's deliveries are validated and hooked one by one, then wait together for
    // their batch: one gatherer per registration, so two instances never share a batch.
    const run = batch === undefined ? handler : new Batcher(batch, this.clock).run
    const entry = this.entry(
      pattern,
      key,
      options,
      plugin,
      this.priorOf(pattern),
      undefined,
      baseRun(run, options.schema, ownPairs(pattern), this.checkResults ? options.result : undefined, key),
      batch,
    )
    this.all.add(pattern, entry)
    this.local.add(pattern, entry)
    this.runnable.push(entry)
  }

  /** Routes acts matching `pattern` to a client transport. */
  addRemote(pattern: Pattern, remote: Remote, plugin: string | undefined): void {
    const entry = this.entry(pattern, patternString(pattern), {}, plugin, this.priorOf(pattern), remote, unreachable)
    this.all.add(pattern, entry)
  }

  /** Subscribes a handler to an event name (which may hold `*` segments). */
  subscribe(
    name: string,
    handler: Action<Message, unknown>,
    plugin: string | undefined,
    each: SubscriptionEach = 'service',
    options: Readonly<ActionOptions> = {},
  ): void {
    const entry = this.entry({ event: name }, `event:${name}`, options, plugin, undefined, undefined, handler)
    this.subscriptions.push({ name, plugin, each, entry })
    this.runnable.push(entry)
  }

  /** Adds a plugin's hooks after those already added, and rewraps every local action. */
  addHooks(plugin: string, hooks: Hooks): void {
    this.hookList.push({ plugin, hooks: Object.freeze({ ...hooks }) })
    if (hooks.inbound === undefined) return
    for (const entry of this.runnable) entry.run = composeInbound(entry.base, this.hookList, entry.info)
  }

  /** The hooks in the order they wrap calls, outermost first. */
  get hooks(): readonly HookEntry[] {
    return this.hookList
  }

  /** The subscriptions matching an event name: of one kind, or (no `each`) of both. */
  subscribersOf(event: string, each?: SubscriptionEach): Entry[] {
    const out: Entry[] = []
    for (const s of this.subscriptions)
      if ((each === undefined || s.each === each) && matchesSubscription(s.name, event)) out.push(s.entry)
    return out
  }

  /** The task names this service handles. */
  taskNames(): string[] {
    return this.local
      .list()
      .map((r) => r.pattern.task)
      .filter((t): t is string => typeof t === 'string')
  }

  /** The distinct event names subscribed to, by the service (default) or by each instance. */
  subscriptionNames(each: SubscriptionEach = 'service'): string[] {
    return [...new Set(this.subscriptions.filter((s) => s.each === each).map((s) => s.name))]
  }

  /** Every subscription with the plugin that made it and who hears it. */
  listSubscriptions(): { name: string; plugin: string | undefined; each: SubscriptionEach }[] {
    return this.subscriptions.map((s) => ({ name: s.name, plugin: s.plugin, each: s.each }))
  }

  private priorOf(pattern: Pattern): Entry | undefined {
    // The action this one overrides: the identical pattern if registered, else whatever the
    // pattern itself would have matched (a less specific action), as Seneca's prior does.
    return this.all.exact(pattern)?.data ?? this.all.find(pattern)?.data
  }

  private entry(
    pattern: Pattern,
    key: string,
    options: Readonly<ActionOptions>,
    plugin: string | undefined,
    prior: Entry | undefined,
    remote: Remote | undefined,
    base: RunAction,
    batch?: BatchSpec,
  ): Entry {
    const info: ActionInfo = Object.freeze({
      pattern,
      key,
      plugin,
      permission: options.permission,
      description: options.description,
      schema: options.schema,
      options: Object.freeze(options),
      transport: remote?.transport,
      ...(batch === undefined ? {} : { batch: Object.freeze({ max: batch.max, waitMs: batch.waitMs }) }),
    })
    const run = remote === undefined ? composeInbound(base, this.hookList, info) : base
    return { pattern, key, timeoutMs: options.timeoutMs, prior, remote, info, base, run }
  }
}

/**
 * The pattern pairs an action's validated message gets back: all of an act's, as the README
 * promises; none of a task's `task` pair, which routed the message and is `ctx.task`.
 */
function ownPairs(pattern: Pattern): string[] {
  const keys = Object.keys(pattern)
  return typeof pattern.task === 'string' ? keys.filter((k) => k !== 'task') : keys
}

/**
 * The action with its schema: the message is validated first and the action gets the schema's
 * output plus the pattern's own pairs, which schemas usually leave out. Without a schema the
 * action runs as it is, with no wrapper.
 */
function baseRun(
  fn: Action<any, unknown>,
  schema: Schema | undefined,
  keys: readonly string[],
  result: Schema | undefined,
  key: string,
): RunAction {
  const run: RunAction =
    schema === undefined
      ? fn
      : (msg, ctx) => {
          const input = validate(schema, msg)
          if (input instanceof Promise) return input.then((value) => fn(mergePairs(value, msg, keys), ctx))
          return fn(mergePairs(input, msg, keys), ctx)
        }
  if (result === undefined) return run
  return (msg, ctx) => {
    const out = run(msg, ctx)
    if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<unknown>).then === 'function') {
      return (out as Promise<unknown>).then((value) => checkResult(result, value, key))
    }
    return checkResult(result, out, key)
  }
}

/**
 * The action's result when its `result` schema accepts it: the value the action returned, not
 * the validator's output, so that a caller gets the same answer whether checks are on or off.
 */
function checkResult(schema: Schema, value: unknown, key: string): unknown {
  const verdict = schema['~standard'].validate(value)
  if (verdict instanceof Promise) return verdict.then((v) => resultOrThrow(v, value, key))
  return resultOrThrow(verdict, value, key)
}

function resultOrThrow(verdict: { readonly issues?: unknown }, value: unknown, key: string): unknown {
  const issues = verdict.issues as Parameters<typeof describeIssues>[0] | undefined
  if (issues === undefined) return value
  const { fields, text } = describeIssues(issues, { value })
  throw new StoaError('INVALID_RESULT', `action "${key}" returned an invalid result: ${text}`, {
    pattern: key,
    fields,
  })
}

/**
 * The validator's output plus the pattern's pairs. The output is a fresh object made by the
 * validator (or the message, which is already the caller's copy), so the pairs are written
 * into it rather than into a copy.
 */
function mergePairs(value: unknown, msg: Message, keys: readonly string[]): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const out = value as Message
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = msg[keys[i]!]
  return out
}

/** A remote entry's `base`: never called, the kernel sends remote calls through `remote`. */
const unreachable: RunAction = () => {
  throw new Error('a remote action has no local run')
}
