import type { AddressInfo, Server } from 'node:net'
import type { Clock, Timer } from './deadlines.js'
import { systemClock } from './deadlines.js'
import type { Envelope, Reply } from './envelope.js'
import { StoaError, toStoaError } from './errors.js'
import type { TransportHost } from './host.js'
import type { Message, Pattern } from './pattern.js'
import type { Schema, SchemaOutput } from './schema.js'
import { issuePath } from './schema.js'

/**
 * The reply for a failure: a `StoaError` as it is, anything else as `ACTION_FAILED` (its
 * original kept out of the reply, as on every wire).
 *
 * @example
 * return errorReply(new StoaError('NOT_FOUND', 'no such queue'))
 */
export function errorReply(err: unknown): Reply {
  return { ok: false, error: toStoaError(err).toJSON() }
}

/**
 * The host with another `dispatch` (and, when given, another `answers`), its live getters
 * (`closing`, `held`) and everything else kept: how a transport, or the kernel, puts
 * something in front of the service without copying the host's fields by hand.
 *
 * @example
 * declare const host: TransportHost
 * let deliveries = 0
 * const counted = withDispatch(host, (e) => {
 *   deliveries++
 *   return host.dispatch(e)
 * })
 */
export function withDispatch(
  host: TransportHost,
  dispatch: (envelope: Envelope) => Promise<Reply>,
  answers: (msg: Readonly<Message>) => boolean = (msg) => host.answers(msg),
): TransportHost {
  return {
    service: host.service,
    log: host.log,
    clock: host.clock,
    observer: host.observer,
    get closing() {
      return host.closing
    },
    get held() {
      return host.held
    },
    dispatch,
    answers,
    tasks: () => host.tasks(),
    subscriptions: () => host.subscriptions(),
    instanceSubscriptions: () => host.instanceSubscriptions(),
    readiness: () => host.readiness(),
  }
}

/**
 * The keys of a client's pins: what names an act nobody answers (`describeMessage(msg,
 * pinKeys(pins))`), never the rest of its data.
 *
 * @example
 * pinKeys([{ role: 'tally', cmd: 'count' }]) // ['role', 'cmd']
 */
export function pinKeys(pins: readonly Pattern[]): string[] {
  return pins.flatMap((pin) => Object.keys(pin))
}

/**
 * The `Retry-After` an HTTP answer carries for an error, in whole seconds (at least 1): for
 * `OVERLOADED` always (a second unless the error says `details.retryAfterMs`), for any other
 * error only when it says `details.retryAfterMs` (a circuit breaker that is open). Undefined:
 * no header.
 *
 * @example
 * const after = retryAfter(reply.error)
 * if (after !== undefined) headers['retry-after'] = String(after)
 */
export function retryAfter(error: { code: string; details?: Record<string, unknown> | undefined }): number | undefined {
  const ms = error.details?.retryAfterMs
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return Math.max(1, Math.ceil(ms / 1000))
  return error.code === 'OVERLOADED' ? 1 : undefined
}

/**
 * Waits for `work` to settle, but no longer than `graceMs` on `clock` (the host's, so that
 * under a virtual clock the grace follows the test's time): what a transport's `close()` does
 * with the deliveries in hand. Resolves true when the work settled in time.
 *
 * @example
 * async function drain(inflight: Set<Promise<unknown>>, graceMs: number, clock: Clock): Promise<void> {
 *   if (!(await settleWithin(Promise.allSettled([...inflight]), graceMs, clock))) console.warn('closing with work in hand')
 * }
 */
export async function settleWithin(
  work: Promise<unknown>,
  graceMs: number,
  clock: Clock = systemClock,
): Promise<boolean> {
  let timer: Timer | undefined
  const late = new Promise<false>((resolve) => (timer = clock.setTimer(() => resolve(false), graceMs)))
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ])
  } finally {
    clock.clearTimer(timer!)
  }
}

/**
 * A periodic check that runs only while something is watched: `arm()` when a wait starts,
 * and the sweep says whether anything is left; when nothing is, the timer stops. The timer
 * is set on `clock` (the host's: under a virtual clock a sweep runs when the test moves time
 * past it, and `now` is that clock's) and never keeps the process alive.
 *
 * @example
 * declare const host: TransportHost
 * const waiting = new Map<string, { until: number; expire(): void }>()
 * const sweeper = new Sweeper(500, (now) => {
 *   for (const [id, w] of waiting) if (w.until <= now) { waiting.delete(id); w.expire() }
 *   return waiting.size > 0
 * }, host.clock)
 */
export class Sweeper {
  private timer: Timer | undefined
  private readonly everyMs: number
  private readonly sweep: (now: number) => boolean
  private readonly clock: Clock

  /**
   * @param everyMs how often to look
   * @param sweep expires what is due at `now`; returns whether anything is still watched
   * @param clock where the time is read and the timer set; default the process's clock
   */
  constructor(everyMs: number, sweep: (now: number) => boolean, clock: Clock = systemClock) {
    this.everyMs = everyMs
    this.sweep = sweep
    this.clock = clock
  }

  /** Starts sweeping, if not already. */
  arm(): void {
    if (this.timer === undefined) this.schedule()
  }

  /** Stops sweeping. */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
  }

  // A Clock sets one-shot timers: each sweep sets the next, as setInterval would.
  private schedule(): void {
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      if (this.sweep(this.clock.now()) && this.timer === undefined) this.schedule()
    }, this.everyMs)
    this.timer.unref()
  }
}

/**
 * Validates a transport's options against its schema (strict, with defaults) and freezes the
 * result. A failure is `INVALID_OPTIONS` naming the transport and every failing option, an
 * unknown (misspelt) one included: `amqp transport: option "prefetch": ...`.
 *
 * @example
 * const settings = resolveTransportOptions('http', httpOptions, input)
 */
export function resolveTransportOptions<S extends Schema>(
  transport: string,
  schema: S,
  input: unknown,
): Readonly<SchemaOutput<S>> {
  const result = schema['~standard'].validate(input ?? {})
  if (result instanceof Promise)
    throw new StoaError('INVALID_OPTIONS', `${transport} transport: its options schema must validate synchronously`)
  if (result.issues !== undefined) {
    const named: { option: string; problem: string }[] = []
    for (const issue of result.issues) {
      // zod lists the unknown keys of a strict object in `keys`, on an issue for the object.
      const unknownKeys = (issue as { keys?: unknown }).keys
      if (Array.isArray(unknownKeys) && unknownKeys.length > 0) {
        const at = issuePath(issue)
        for (const k of unknownKeys)
          named.push({ option: at === '' ? String(k) : `${at}.${String(k)}`, problem: 'is not an option' })
      } else named.push({ option: issuePath(issue), problem: issue.message })
    }
    const text = named.map((n) => `option "${n.option}": ${n.problem}`).join('; ')
    throw new StoaError('INVALID_OPTIONS', `${transport} transport: ${text}`, {
      transport,
      fields: [...new Set(named.map((n) => n.option))],
    })
  }
  return Object.freeze(result.value as SchemaOutput<S>)
}

/**
 * Starts `server` (node:http, node:https or any net server) listening on `host` and `port`
 * (0: a free one), and resolves with the address it took as `host:port`, an IPv6 host in
 * brackets, ready to follow `http://`. A listen error (EADDRINUSE) rejects.
 *
 * @example
 * const url = `http://${await listenOn(createServer(handler), 0, '127.0.0.1')}`
 */
export async function listenOn(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

/**
 * Imports a third-party package that only one entry point needs, when that entry point starts,
 * so an application that never uses it need not install it. A missing package fails with
 * `INVALID_PLUGIN` naming the package and the entry point, and the command that installs it;
 * any other failure while loading it (a broken install, a missing package of its own) is
 * passed on as it is, since "install X" would be the wrong advice.
 *
 * @param specifier the package's name, as in `npm install <pkg>`, or one of its subpaths
 *   (`tsx/esm/api`), in which case the message names the package alone
 * @param entry the stoa entry point that needs it, for the message (`stoa/amqp`)
 * @example
 * const amqp = await loadPeer<{ connect(url: string): Promise<object> }>('amqplib', 'stoa/amqp')
 */
export async function loadPeer<T>(specifier: string, entry: string): Promise<T> {
  try {
    return (await import(specifier)) as T
  } catch (err) {
    throw missingPeer(err, specifier, entry)
  }
}

/**
 * {@link loadPeer} for a synchronous path that cannot wait for an import (a public function that
 * returns at once, such as building a logger or signing a token): loads the CommonJS package with
 * `require`, with the same `INVALID_PLUGIN` when it is missing.
 *
 * @example
 * const pino = requirePeer<(options: object) => object>('pino', 'stoa/logs')
 */
export function requirePeer<T>(specifier: string, entry: string): T {
  try {
    return requireHere(specifier) as T
  } catch (err) {
    throw missingPeer(err, specifier, entry)
  }
}

/**
 * `require` from this module, made on first use: importing node:module and making a require
 * are a millisecond of a cold start that loads no peer.
 */
function requireHere(specifier: string): unknown {
  localRequire ??= process.getBuiltinModule('node:module').createRequire(import.meta.url)
  return localRequire(specifier)
}

let localRequire: NodeJS.Require | undefined

/** The error for a failed load: `INVALID_PLUGIN` naming the package when it is missing, else `err`. */
function missingPeer(err: unknown, specifier: string, entry: string): unknown {
  // `@scope/name/sub` and `name/sub` belong to the packages `@scope/name` and `name`.
  const pkg = specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/')
  if (!isMissing(err, pkg)) return err
  return new StoaError(
    'INVALID_PLUGIN',
    `${entry} needs the package ${pkg}, which is not installed: npm install ${pkg}`,
    { package: pkg, entry },
    { cause: err },
  )
}

/** Whether `err` says that `pkg` itself (not one of its own imports) could not be found. */
function isMissing(err: unknown, pkg: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown }
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false
  // Node names the package it looked for in quotes: "Cannot find package 'amqplib' imported from …".
  return typeof message === 'string' && (message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`))
}
