import type { Clock, Logger, StoaErrorJSON } from '../../actions/index.js'

/**
 * What a running workflow asks its engine for. Every call is one recorded operation: after a
 * restart the workflow runs again from the start, and each operation that was recorded gives
 * its recorded outcome instead of running again. Operations must come in the same order.
 */
export interface EngineRun {
  /** The workflow's id. */
  readonly id: string
  /**
   * Runs `fn` once and records what it returned (at least once: a crash before the record
   * runs it again). `fn` returns its failures as values; throwing {@link Halt} means the
   * instance is closing, and nothing is recorded.
   */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>
  /** The next message on `topic`, or `undefined` after `timeoutMs` (from the first call, recorded). */
  recv(topic: string, timeoutMs: number): Promise<unknown>
  /** Records a value readers get with `SagaEngine.getEvent`. */
  setEvent(key: string, value: unknown): Promise<void>
}

/** A workflow body: registered by name before the engine launches. */
export type WorkflowBody = (input: unknown, run: EngineRun) => Promise<unknown>

/** The engine's view of a workflow. */
export interface WorkflowInfo {
  readonly id: string
  readonly workflow: string
  /** `pending` while it runs or waits to be resumed. */
  readonly state: 'pending' | 'success' | 'error'
  /** What the workflow returned, when it ended in success. */
  readonly output?: unknown
  /** What ended it, when it ended in error. */
  readonly error?: StoaErrorJSON
  readonly createdAt: number
}

/** What an engine is started with. */
export interface EngineSettings {
  /**
   * The instance's clock: the in-memory engine's timers (a `recv` timeout: sleeps and waits) run
   * on it, so they follow a virtual clock; a durable engine's timers (DBOS) cannot.
   */
  readonly clock: Clock
  readonly log: Logger
  /** The service's name. */
  readonly service: string
  /** The version of the registered workflows: runs of another version are not resumed here. */
  readonly version: string
}

/**
 * The small interface stoa runs sagas on: an engine that records workflows and their steps and
 * resumes them after a restart. `stoa/saga` has two: DBOS Transact on PostgreSQL (durable), and
 * an in-memory one (not durable: for the embedded default and tests).
 */
export interface SagaEngine {
  /** `dbos`, `memory`. */
  readonly name: string
  /** Whether workflows outlive the process. */
  readonly durable: boolean
  /** Registers a workflow body under a name; before `launch`. */
  register(workflow: string, body: WorkflowBody): void
  /** Starts the engine and resumes the workflows of this version left pending. */
  launch(settings: EngineSettings): Promise<void>
  /**
   * Starts the workflow `id` with `input`, once: starting an id that exists (or is being started
   * at the same moment) starts nothing. Resolves once the start is recorded.
   */
  start(workflow: string, id: string, input: unknown): Promise<void>
  /** Puts `message` on the workflow's `topic`, for its `recv`. */
  send(id: string, topic: string, message: unknown): Promise<void>
  /** The last value the workflow recorded under `key`. */
  getEvent(id: string, key: string): Promise<unknown>
  /** The outputs the workflow's steps recorded, in order (steps only: not messages nor events). */
  steps(id: string): Promise<{ name: string; out: unknown }[]>
  /** One workflow, or `undefined`. */
  info(id: string): Promise<WorkflowInfo | undefined>
  /** Workflows, newest first. */
  list(options: { workflows: readonly string[]; limit: number }): Promise<WorkflowInfo[]>
  /** Resolves when the workflow has ended (whatever the outcome). */
  settled(id: string): Promise<void>
  /** Stops running workflows (they stay pending, for the next launch) and releases the engine. */
  close(): Promise<void>
}

/**
 * Thrown through a workflow when its instance is closing: the step it interrupts is not
 * recorded, and the workflow stays pending for a later launch (or another worker). An engine
 * of its own throws it from `EngineRun.step` once `close()` was called.
 *
 * @example
 * declare const closing: boolean
 * if (closing) throw new Halt()
 */
export class Halt extends Error {
  constructor() {
    super('the saga engine is closing')
    this.name = 'Halt'
  }
}
