import type { Context } from './context.js'
import type { Clock } from './deadlines.js'
import { StoaError } from './errors.js'
import type { Message } from './pattern.js'

/** How a saga step calls its participant, and how its change is reversed. */
export interface SagaActOptions<R = any> {
  /**
   * The message that reverses this step's change, from the step's result (`undefined` when the
   * call failed or timed out: it may still have happened). Run when a later step fails, in
   * reverse order, with the idempotency key `<saga id>/undo:<step>`, retried until it succeeds
   * or its attempts are spent (then the saga ends `compensation_failed`, naming the step).
   */
  undo?: (result: R | undefined) => Message
  /** Attempts of the call (retryable errors only) and the first backoff, doubling. Default 3, 100 ms. */
  retry?: { attempts?: number; backoffMs?: number }
  /** Time limit of one attempt, ms. Default: the service's call time limit. */
  timeoutMs?: number
}

/**
 * What a saga's `run` is given: durable steps. Each call is recorded; after a crash the saga
 * runs again from the start, and every step that finished gives its recorded outcome instead
 * of running again, so the steps must come in the same order for the same message.
 */
export interface Saga {
  /** This run's id, from the definition's `id(msg)`. */
  readonly id: string
  /**
   * One durable step: acts `msg` (on any transport) with the message id `<saga id>/<step>`,
   * which an idempotent participant (`stoa/postgres`) takes as its inbox key, and resolves with
   * the participant's result. A failure after the retries fails the saga: the undo of every
   * step attempted so far runs, in reverse order.
   */
  act<R = any>(step: string, msg: Message, options?: SagaActOptions<R>): Promise<R>
  /** A durable sleep: `'10m'`, `'3d'` or ms. A cancel wakes it (the saga then compensates). */
  sleep(step: string, duration: number | string): Promise<void>
  /**
   * Waits for the signal `name` (`role:saga,cmd:signal`): resolves with its data (`true` when
   * it had none), or `undefined` when `timeout` (default `'7d'`) passed first. A cancel ends the
   * wait with the saga's compensation.
   */
  waitFor(name: string, options?: { timeout?: number | string }): Promise<unknown>
  /** The error to throw to end the saga on purpose: its steps are compensated. */
  abort(reason: string, details?: Record<string, unknown>): StoaError
}

/** A saga as `stoa.saga(pattern, definition)` takes it. */
export interface SagaDefinition<M extends Message = Message, R = unknown> {
  /** The run's id from the trigger: one run per id, however often the trigger arrives. */
  id: (msg: M) => string
  /**
   * The version of the step order. A run recorded under another version, or whose recorded
   * steps differ from what the code asks for, is refused with `SAGA_CHANGED`: change the order
   * of steps only with a new version.
   */
  version: number
  /** The saga's body: its steps, through `saga`. Its result ends the saga `completed`. */
  run: (msg: M, saga: Saga) => Promise<R>
  /**
   * The patterns its steps and their undos act on (`'role:payment,cmd:charge'`): at start the
   * instance warns about one that no action of the service and no client it has answers, which
   * would otherwise fail NOT_FOUND halfway through a run.
   */
  acts?: readonly string[]
}

/** What runs sagas: the saga plugin (`stoa/saga`) gives it to the kernel when it starts. */
export interface SagaRuntime {
  /** Starts (durably) the run of the saga under `pattern` for `msg`; resolves once it is recorded. */
  start(pattern: string, msg: Message, ctx: Context): Promise<unknown>
}

/** What the kernel gives the saga plugin: the definitions, and the instance's clock. */
export interface SagaServing {
  readonly definitions: ReadonlyMap<string, SagaDefinition>
  readonly clock: Clock
}

/** The sagas of one instance: definitions at registration, and the runtime a plugin serves them with. */
export class Sagas {
  readonly definitions = new Map<string, SagaDefinition>()
  private runtime: SagaRuntime | undefined

  define(pattern: string, def: SagaDefinition<any, any>): void {
    const where = `saga "${pattern}"`
    if (def === null || typeof def !== 'object') throw new StoaError('INVALID_PLUGIN', `${where} needs a definition`)
    if (typeof def.id !== 'function' || typeof def.run !== 'function')
      throw new StoaError('INVALID_PLUGIN', `${where} needs id(msg) and run(msg, saga) functions`, { pattern })
    if (!Number.isInteger(def.version) || def.version < 1)
      throw new StoaError('INVALID_PLUGIN', `${where}: version must be an integer of 1 or more`, { pattern })
    if (this.definitions.has(pattern)) throw new StoaError('INVALID_PLUGIN', `${where} is defined twice`, { pattern })
    this.definitions.set(pattern, def)
  }

  serve(runtime: SagaRuntime): void {
    if (this.runtime !== undefined) throw new StoaError('INVALID_PLUGIN', 'sagas are served by one saga plugin only')
    this.runtime = runtime
  }

  start(pattern: string, msg: Message, ctx: Context): Promise<unknown> {
    if (this.runtime === undefined)
      return Promise.reject(
        new StoaError('UNAVAILABLE', `saga "${pattern}" has no engine: load the saga plugin (stoa/saga)`, { pattern }),
      )
    return this.runtime.start(pattern, msg, ctx)
  }
}
