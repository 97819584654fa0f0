import { callTimeoutMs } from './deadlines.js'
import type { EnvelopeMeta, ResponseHeaders } from './envelope.js'
import type { Message } from './pattern.js'

/** Who an action runs for. Set by an identity hook (the jwt plugin); undefined until then. */
export interface Identity {
  /** The subject: a user id, or `system` for maintenance jobs. */
  readonly sub: string
  /** Global roles such as `user-mover`, `user-client`, `user-business`. */
  readonly roles: readonly string[]
  /** Every claim of the verified token. */
  readonly claims: Readonly<Record<string, unknown>>
}

/** Per-call options for `act`, `send` and `emit`. */
export interface CallOptions {
  /**
   * Give up after this long; nested calls only ever shorten the deadline they inherit. A value
   * that is not a finite number (NaN, Infinity) counts as absent: the default applies.
   */
  timeoutMs?: number
  /** Join an existing trace instead of starting a new one. */
  trace?: string
  /** The identity token to act with. */
  token?: string
  /** Who is calling (`cli`, a service name). */
  caller?: string
  /** Use this message id (an HTTP request id, say) instead of a new one. */
  id?: string
  /** Headers an edge transport passes to the action as `ctx.headers`. */
  headers?: Readonly<Record<string, string>>
  /** Where an edge transport gathers headers for its answer (see {@link ResponseHeaders}). */
  responseHeaders?: ResponseHeaders
  /** The W3C `traceparent` (and `tracestate`) an edge received: the caller's span. */
  traceparent?: string
  tracestate?: string
}

/**
 * The kernel calls that a context forwards to. Declared here, implemented by the kernel, so
 * context.ts does not import kernel.ts.
 */
export interface ContextHost {
  /** The time a call starting now counts its deadline from (ms since the epoch). */
  now(): number
  /** The exact time now (ms since the epoch), from the instance's clock. */
  time(): number
  actWith(
    parent: Context,
    pattern: string | Message,
    extra: Message | undefined,
    opts: CallOptions | undefined,
  ): Promise<unknown>
  sendWith(parent: Context, name: string, data: Message | undefined, opts: CallOptions | undefined): Promise<void>
  emitWith(parent: Context, name: string, data: Message | undefined, opts: CallOptions | undefined): Promise<void>
  priorWith(ctx: Context, msg: Message): Promise<unknown>
}

/**
 * What an action knows beyond its message: ids, trace, deadline, identity and caller, and
 * `act` / `send` / `emit` that carry identity, trace and the remaining deadline on to nested
 * calls automatically, across any transport.
 *
 * @example
 * stoa.add('role:vote,cmd:cast', async (msg, ctx) => {
 *   await ctx.send('tally.vote.record', { voter: msg.voter })
 *   return { accepted: true, trace: ctx.trace }
 * })
 */
export class Context {
  /**
   * The identity the call runs for, once an identity hook has set it. A nested call in the same
   * process inherits it with the token, so a token is verified once per hop.
   */
  declare identity: Identity | undefined
  /** The canonical pattern of the action running. */
  declare readonly pattern: string
  /** The message being handled, before validation. */
  declare readonly msg: Message
  /** @internal */
  declare readonly host: ContextHost
  /** @internal the kernel's record of the running action, for `prior`. */
  declare readonly entry: unknown
  /**
   * What the call started with, read through the getters below rather than copied field by
   * field: a context is made for every call, and most calls read none of it.
   */
  declare private readonly meta: Readonly<CallMeta>
  // Id, trace and deadline are fixed on first use: most in-process calls never read them, and
  // a random id and a clock read are the largest costs of a call that does nothing else.
  declare private fixedId: string | undefined
  declare private fixedTrace: string | undefined
  declare private fixedDeadline: number | undefined
  declare private makeTrace: (() => string) | undefined

  /** @internal */
  constructor(host: ContextHost, entry: unknown, pattern: string, msg: Message, meta: Readonly<CallMeta>) {
    this.host = host
    this.entry = entry
    this.pattern = pattern
    this.msg = msg
    this.meta = meta
    this.fixedId = meta.id
    this.fixedTrace = meta.trace
    this.fixedDeadline = meta.deadline
    this.identity = meta.identity
    this.makeTrace = undefined
  }

  /** Who sent this call: a service name, `cli`, `http`... */
  get caller(): string | undefined {
    return this.meta.caller
  }

  /** The identity token the call came with, passed on to nested calls. */
  get token(): string | undefined {
    return this.meta.token
  }

  /** Headers an edge transport passed on (lowercase names); empty for other calls. */
  get headers(): Readonly<Record<string, string>> {
    return this.meta.headers ?? NO_HEADERS
  }

  /**
   * For hooks: where the edge answering this call gathers headers for its answer (the web
   * pipeline's; see {@link ResponseHeaders}); undefined where the answer has none.
   */
  get responseHeaders(): ResponseHeaders | undefined {
    return this.meta.responseHeaders
  }

  /** The W3C `traceparent` the call arrived with (the remote caller's span), if any. */
  get traceparent(): string | undefined {
    return this.meta.traceparent
  }

  /** The W3C `tracestate` that came with it. */
  get tracestate(): string | undefined {
    return this.meta.tracestate
  }

  /** The transport the call arrived through (`http`, `amqp`...); undefined for a call made in this process. */
  get transport(): string | undefined {
    return this.meta.transport
  }

  /**
   * The task this handler runs for (`tally.vote.record`); undefined for an act or an event.
   * The name routed the message and stays out of it: the handler's message is the data sent.
   */
  get task(): string | undefined {
    return this.meta.task
  }

  /**
   * The event this subscriber hears (`vote.recorded`, whatever `vote.*` it subscribed with);
   * undefined for an act or a task. Like a task's name, it is not mixed into the message.
   */
  get event(): string | undefined {
    return this.meta.event
  }

  /**
   * This message's id: the same on every delivery of a task or an event (an event's
   * subscribers all see the event's), so a handler can tell a redelivery.
   */
  get id(): string {
    return (this.fixedId ??= newId())
  }

  /** The id shared by every call in this chain. */
  get trace(): string {
    return (this.fixedTrace ??= this.makeTrace === undefined ? this.id : this.makeTrace())
  }

  /**
   * @internal For a tracing hook: a call whose trace is not fixed yet (a root call, before
   * anyone read it) takes the id `make` returns, when its trace is first read.
   */
  adoptTrace(make: () => string): void {
    if (this.fixedTrace === undefined) this.makeTrace = make
  }

  /** Absolute deadline, ms since the epoch. */
  get deadline(): number {
    return (this.fixedDeadline ??= this.host.now() + this.meta.timeoutMs)
  }

  /** Milliseconds left before the deadline (never negative). */
  get remainingMs(): number {
    return Math.max(0, this.deadline - this.host.time())
  }

  /** Acts on behalf of this call: same trace and identity, at most the remaining time. */
  act(pattern: string | Message, extra?: Message, opts?: CallOptions): Promise<unknown> {
    return this.host.actWith(this, pattern, extra, opts)
  }

  /** Sends a task on behalf of this call. */
  send(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return this.host.sendWith(this, name, data, opts)
  }

  /** Emits an event on behalf of this call. */
  emit(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return this.host.emitWith(this, name, data, opts)
  }

  /** Calls the action this one overrides, with `msg` (this call's message by default). */
  prior(msg?: Message): Promise<unknown> {
    return this.host.priorWith(this, msg ?? this.msg)
  }

  /** @internal the metadata for a call made from this one. */
  childMeta(
    opts: CallOptions | undefined,
    caller: string,
  ): EnvelopeMeta & { deadline: number; timeoutMs: number; identity: Identity | undefined } {
    let deadline = this.deadline
    // An option that is no finite number (NaN would make the deadline NaN) leaves the inherited one.
    const ms = callTimeoutMs(opts?.timeoutMs)
    if (ms !== undefined) deadline = Math.min(deadline, this.host.time() + ms)
    // Another token is another identity: it is verified afresh, never inherited.
    const own = opts?.token === undefined || opts.token === this.token
    return {
      id: newId(),
      trace: this.trace,
      deadline,
      timeoutMs: this.meta.timeoutMs,
      token: own ? this.token : opts.token,
      caller,
      identity: own ? this.identity : undefined,
    }
  }
}

/**
 * What a call starts with. A root call leaves id, trace and deadline open (the context fixes
 * them when first read, the deadline `timeoutMs` from then); calls that arrive from elsewhere
 * or are nested carry them fixed.
 */
export interface CallMeta {
  id?: string | undefined
  trace?: string | undefined
  deadline?: number | undefined
  timeoutMs: number
  token?: string | undefined
  caller?: string | undefined
  headers?: Readonly<Record<string, string>> | undefined
  /** Where the edge answering the call gathers its answer's headers: a nested act inherits it. */
  responseHeaders?: ResponseHeaders | undefined
  /** The identity verified earlier in this process, for a nested call with the same token. */
  identity?: Identity | undefined
  traceparent?: string | undefined
  tracestate?: string | undefined
  /** The transport a call from elsewhere arrived through. */
  transport?: string | undefined
  /** The task a task handler runs for: routing, kept out of the message. */
  task?: string | undefined
  /** The event a subscriber hears: routing, kept out of the message. */
  event?: string | undefined
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

/** A new message id. */
export function newId(): string {
  return (randomUUID ??= process.getBuiltinModule('node:crypto').randomUUID)()
}

/**
 * node:crypto, loaded on the first id asked for: an in-process call never reads its id, and
 * loading the module is a tenth of what `stoa act` spends importing the kernel.
 */
let randomUUID: (() => string) | undefined
