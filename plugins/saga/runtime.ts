import type {
  Clock,
  Context,
  Logger,
  Message,
  PluginHost,
  Saga,
  SagaActOptions,
  SagaDefinition,
  SagaRuntime,
  StoaErrorJSON,
} from '../../actions/index.js'
import { ERRORS, StoaError } from '../../actions/index.js'
import { sagaDurationMs as durationMs } from './duration.js'
import type { EngineRun, SagaEngine } from './engine.js'
import { Halt } from './engine.js'

/** Where a saga stands. The last four are ends. */
export type SagaState =
  | 'running'
  | 'sleeping'
  | 'waiting'
  | 'compensating'
  | 'completed'
  | 'compensated'
  | 'compensation_failed'
  | 'failed'

/** One step of a saga as its status shows it. */
export interface SagaStepStatus {
  /** The step's name (`undo:<step>` for an undo). */
  readonly step: string
  readonly kind: 'act' | 'sleep' | 'wait' | 'undo'
  state: 'running' | 'waiting' | 'done' | 'failed' | 'timed_out'
  /** Calls made (acts and undos). */
  attempts: number
  startedAt: number
  endedAt?: number
  error?: StoaErrorJSON
}

/** What `role:saga,cmd:status` answers. */
export interface SagaStatus {
  readonly id: string
  /** The trigger's pattern. */
  readonly saga: string
  readonly version: number
  state: SagaState
  steps: SagaStepStatus[]
  result?: unknown
  /** What failed the saga (and started its compensation). */
  error?: StoaErrorJSON
  /** The steps whose undo kept failing: set when the state is `compensation_failed`. */
  failedUndos?: string[]
  readonly startedAt: number
  updatedAt: number
}

/** The ends a saga can reach. */
export const ENDED: ReadonlySet<SagaState> = new Set(['completed', 'compensated', 'compensation_failed', 'failed'])

/** Where a workflow's signals arrive, and the signal a cancel is. */
const TOPIC = 'stoa.saga.signal'
const CANCEL = 'stoa.cancel'
/** The event a saga's status is recorded under. */
const STATUS = 'stoa.saga.status'
/** The longest pause between two attempts, ms. */
const MAX_BACKOFF_MS = 30_000
const DEFAULT_WAIT_MS = 7 * 86_400_000

/** What a saga's workflow is started with. */
interface SagaInput {
  saga: string
  version: number
  msg: Message
  trace: string
  startedAt: number
}

/** The recorded outcome of a call: failures are values, so every engine records them alike. */
interface Outcome {
  ok: boolean
  out?: unknown
  error?: StoaErrorJSON
  attempts: number
  startedAt: number
  endedAt: number
}

interface Signal {
  name: string
  data?: unknown
}

/** Attempts and first backoff of a call. */
export interface Attempts {
  readonly attempts: number
  readonly backoffMs: number
}

/** What the runner is made with. */
export interface RunnerSettings {
  readonly host: PluginHost
  readonly engine: SagaEngine
  readonly definitions: ReadonlyMap<string, SagaDefinition>
  readonly clock: Clock
  readonly log: Logger
  readonly retry: Attempts
  readonly undo: Attempts
}

/** The workflow a saga runs as, named for its trigger. */
export function workflowName(pattern: string): string {
  return `saga:${pattern}`
}

function asError(err: unknown): StoaError {
  if (err instanceof StoaError) return err
  return new StoaError('ACTION_FAILED', err instanceof Error ? err.message : String(err))
}

/**
 * Runs a service's sagas on an engine: each saga is one workflow whose steps are engine steps,
 * its status an engine event, its signals messages on one topic. Compensation is here, the same
 * on every engine.
 */
export class SagaRunner implements SagaRuntime {
  /** Set when the instance closes: a call refused for that halts the saga instead of failing it. */
  closing = false
  private readonly names: Map<string, string>
  /**
   * The act or undo each saga of this process is calling now, by saga id: its outcome is
   * recorded only once it ends, so the status shows it from here meanwhile.
   */
  private readonly flying = new Map<string, SagaStepStatus>()

  constructor(private readonly s: RunnerSettings) {
    this.names = new Map([...s.definitions.keys()].map((p) => [workflowName(p), p]))
    for (const pattern of s.definitions.keys())
      s.engine.register(workflowName(pattern), (input, run) => this.body(input as SagaInput, run))
  }

  async start(pattern: string, msg: Message, ctx: Context): Promise<{ id: string }> {
    const def = this.s.definitions.get(pattern)
    if (def === undefined) throw new StoaError('NOT_FOUND', `no saga ${pattern}`, { pattern })
    let id: unknown
    try {
      id = def.id(msg)
    } catch (err) {
      throw new StoaError('INVALID_MESSAGE', `saga ${pattern}: its id cannot be made from this message`, undefined, {
        cause: err,
      })
    }
    if (typeof id !== 'string' || id === '')
      throw new StoaError('INVALID_MESSAGE', `saga ${pattern}: id(msg) must give a non-empty string`, { pattern })
    const input: SagaInput = {
      saga: pattern,
      version: def.version,
      msg,
      trace: ctx.trace,
      startedAt: this.s.clock.now(),
    }
    await this.s.engine.start(workflowName(pattern), id, input)
    return { id }
  }

  /** A saga's status, or `undefined` when this service has no saga of that id. */
  async status(id: string): Promise<SagaStatus | undefined> {
    const info = await this.s.engine.info(id)
    const saga = info === undefined ? undefined : this.names.get(info.workflow)
    if (info === undefined || saga === undefined) return undefined
    // An ended saga's status is its workflow's result; a running one's, its last recorded event.
    const ended = info.state === 'success' ? (info.output as SagaStatus | undefined) : undefined
    const recorded = ended ?? ((await this.s.engine.getEvent(id, STATUS)) as SagaStatus | undefined)
    const st: SagaStatus = recorded ?? {
      id,
      saga,
      version: this.s.definitions.get(saga)?.version ?? 0,
      state: 'running',
      steps: [],
      startedAt: info.createdAt,
      updatedAt: info.createdAt,
    }
    if (info.state === 'error' && !ENDED.has(st.state)) {
      st.state = 'failed'
      if (info.error !== undefined) st.error = info.error
    }
    st.steps = stepsOf(await this.s.engine.steps(id), st.steps)
    const flying = info.state === 'pending' ? this.flying.get(id) : undefined
    if (flying !== undefined && !st.steps.some((s) => s.step === flying.step)) st.steps.push({ ...flying })
    return st
  }

  /** The service's sagas, newest first. */
  async list(
    limit: number,
    state?: SagaState,
  ): Promise<Pick<SagaStatus, 'id' | 'saga' | 'state' | 'startedAt' | 'updatedAt'>[]> {
    const infos = await this.s.engine.list({
      workflows: [...this.names.keys()],
      limit: state === undefined ? limit : 10_000,
    })
    const out: Pick<SagaStatus, 'id' | 'saga' | 'state' | 'startedAt' | 'updatedAt'>[] = []
    for (const info of infos) {
      const st = await this.status(info.id)
      if (st === undefined || (state !== undefined && st.state !== state)) continue
      out.push({ id: st.id, saga: st.saga, state: st.state, startedAt: st.startedAt, updatedAt: st.updatedAt })
      if (out.length >= limit) break
    }
    return out
  }

  /** Sends a saga the signal `name` (its `waitFor(name)` takes it); `stoa.cancel` cancels. */
  async signal(id: string, name: string, data: unknown): Promise<{ id: string; signal: string }> {
    const st = await this.status(id)
    if (st === undefined) throw new StoaError('NOT_FOUND', `no saga ${id}`, { id })
    if (ENDED.has(st.state))
      throw new StoaError('INVALID_MESSAGE', `saga ${id} has ended (${st.state}): it takes no signal`, {
        id,
        state: st.state,
      })
    const signal: Signal = data === undefined ? { name } : { name, data }
    await this.s.engine.send(id, TOPIC, signal)
    return { id, signal: name }
  }

  /** Asks a saga to stop: at its next sleep or wait it compensates, ending `compensated`. */
  cancel(id: string, reason: string): Promise<{ id: string; signal: string }> {
    return this.signal(id, CANCEL, { reason })
  }

  // ------------------------------------------------------------------ the workflow

  private async body(input: SagaInput, run: EngineRun): Promise<unknown> {
    const { clock, log } = this.s
    const def = this.s.definitions.get(input.saga)
    if (def === undefined || def.version !== input.version) {
      const err = new StoaError(
        'SAGA_CHANGED',
        `saga ${run.id} (${input.saga}) was started at version ${input.version}, this code is ${def === undefined ? 'without it' : `version ${def.version}`}: it is not resumed here`,
        { id: run.id, saga: input.saga, recorded: input.version, code: def?.version },
      )
      log.error({ id: run.id, saga: input.saga, code: err.code }, err.message)
      throw err
    }
    const status: SagaStatus = {
      id: run.id,
      saga: input.saga,
      version: input.version,
      state: 'running',
      steps: [],
      startedAt: input.startedAt,
      updatedAt: input.startedAt,
    }
    const save = (): Promise<void> => {
      status.updatedAt = clock.now()
      return run.setEvent(STATUS, status)
    }
    const attempted: { step: string; undo: ((r: unknown) => Message) | undefined; result: unknown }[] = []
    const used = new Set<string>()
    const buffered: Signal[] = []
    const checkName = (step: unknown): string => {
      if (typeof step !== 'string' || step === '' || /[/:]/.test(step))
        throw new StoaError(
          'INVALID_OPTIONS',
          `saga ${input.saga}: a step name is a non-empty string without "/" or ":"`,
        )
      if (used.has(step))
        throw new StoaError(
          'INVALID_OPTIONS',
          `saga ${input.saga}: step "${step}" comes twice: step names are unique in a saga`,
        )
      used.add(step)
      return step
    }
    // Takes signals until `want` comes or `deadline` passes. Whether it loops depends on the
    // recorded messages alone, never on the clock, so a replay makes the very same calls.
    const listen = async (deadline: number, want: string | undefined): Promise<Signal | undefined> => {
      if (want !== undefined) {
        const at = buffered.findIndex((b) => b.name === want)
        if (at >= 0) return buffered.splice(at, 1)[0]
      }
      for (;;) {
        const got = (await run.recv(TOPIC, Math.max(0, deadline - clock.now()))) as Signal | undefined | null
        if (got === undefined || got === null) return undefined
        if (got.name === CANCEL) {
          const reason = (got.data as { reason?: unknown } | undefined)?.reason
          throw new StoaError(
            'SAGA_ABORTED',
            `cancelled${typeof reason === 'string' && reason !== '' ? `: ${reason}` : ''}`,
            {
              id: run.id,
            },
          )
        }
        if (got.name === want) return got
        buffered.push(got)
      }
    }
    const saga: Saga = {
      id: run.id,
      act: async <R>(name: string, msg: Message, opts: SagaActOptions<R> = {}): Promise<R> => {
        const step = checkName(name)
        const entry = { step, undo: opts.undo as ((r: unknown) => Message) | undefined, result: undefined as unknown }
        // Attempted from here on: a call that fails or times out may still have made its change.
        attempted.push(entry)
        const retry = opts.retry
        const tries =
          retry === undefined
            ? this.s.retry
            : {
                attempts: retry.attempts ?? this.s.retry.attempts,
                backoffMs: retry.backoffMs ?? this.s.retry.backoffMs,
              }
        const o = await run.step(step, () =>
          this.call(run.id, step, 'act', msg, input.trace, tries, opts.timeoutMs, false),
        )
        // No status write here: the status reads each act's outcome from the engine's record.
        if (o.ok) entry.result = o.out
        if (!o.ok) throw StoaError.fromJSON(o.error)
        return o.out as R
      },
      sleep: async (name: string, duration: number | string): Promise<void> => {
        const step = checkName(name)
        const ms = durationMs(duration)
        const st: SagaStepStatus = { step, kind: 'sleep', state: 'waiting', attempts: 0, startedAt: clock.now() }
        status.steps.push(st)
        status.state = 'sleeping'
        await save()
        st.startedAt = await run.step(`at:${step}`, async () => clock.now())
        await listen(st.startedAt + ms, undefined)
        st.state = 'done'
        st.endedAt = clock.now()
        status.state = 'running'
      },
      waitFor: async (name: string, opts: { timeout?: number | string } = {}): Promise<unknown> => {
        const step = checkName(name)
        const ms = opts.timeout === undefined ? DEFAULT_WAIT_MS : durationMs(opts.timeout)
        const st: SagaStepStatus = { step, kind: 'wait', state: 'waiting', attempts: 0, startedAt: clock.now() }
        status.steps.push(st)
        status.state = 'waiting'
        await save()
        st.startedAt = await run.step(`at:${step}`, async () => clock.now())
        const got = await listen(st.startedAt + ms, step)
        st.state = got === undefined ? 'timed_out' : 'done'
        st.endedAt = clock.now()
        status.state = 'running'
        return got === undefined ? undefined : (got.data ?? true)
      },
      abort: (reason: string, details?: Record<string, unknown>) => new StoaError('SAGA_ABORTED', reason, details),
    }

    let failure: StoaError
    try {
      const result = await def.run(input.msg, saga)
      status.state = 'completed'
      if (result !== undefined) status.result = result
      status.updatedAt = clock.now()
      await this.announce(run, input, 'saga.completed', { id: run.id, saga: input.saga, result })
      // The final status is the workflow's result: recorded with its end, no write of its own.
      return status
    } catch (err) {
      if (err instanceof Halt) throw err
      failure = asError(err)
      if (failure.code === 'SAGA_CHANGED') {
        log.error({ id: run.id, saga: input.saga, code: failure.code }, failure.message)
        throw failure
      }
    }

    status.error = failure.toJSON()
    status.state = 'compensating'
    await save()
    const failed: string[] = []
    for (const entry of attempted.reverse()) {
      if (entry.undo === undefined) continue
      const step = `undo:${entry.step}`
      let msg: Message | undefined
      let bad: StoaError | undefined
      try {
        msg = entry.undo(entry.result)
      } catch (err) {
        bad = asError(err)
      }
      // Recorded as a step either way, so that the status shows an undo that could not be made.
      const o: Outcome = await run.step(step, async () => {
        if (msg !== undefined) return this.call(run.id, step, 'undo', msg, input.trace, this.s.undo, undefined, true)
        const at = clock.now()
        const error = bad ?? new StoaError('INVALID_MESSAGE', `the undo of "${entry.step}" gave no message`)
        return { ok: false, error: error.toJSON(), attempts: 0, startedAt: at, endedAt: at }
      })
      if (!o.ok) {
        failed.push(entry.step)
        log.error({ id: run.id, saga: input.saga, step: entry.step, error: o.error }, 'a saga undo kept failing')
      }
    }
    status.updatedAt = clock.now()
    if (failed.length === 0) {
      status.state = 'compensated'
      await this.announce(run, input, 'saga.compensated', { id: run.id, saga: input.saga, error: status.error })
    } else {
      status.state = 'compensation_failed'
      status.failedUndos = failed
      await this.announce(run, input, 'saga.failed', {
        id: run.id,
        saga: input.saga,
        state: status.state,
        error: status.error,
        failedUndos: failed,
      })
    }
    return status
  }

  /**
   * Calls a participant with the step's idempotency key `<saga id>/<step>` as message id,
   * retrying with backoff, the step shown as in flight (`running`, its attempts counted) in its
   * saga's status meanwhile.
   */
  private async call(
    id: string,
    step: string,
    kind: 'act' | 'undo',
    msg: Message,
    trace: string,
    tries: Attempts,
    timeoutMs: number | undefined,
    always: boolean,
  ): Promise<Outcome> {
    const startedAt = this.s.clock.now()
    const mark: SagaStepStatus = { step, kind, state: 'running', attempts: 0, startedAt }
    this.flying.set(id, mark)
    const opts = timeoutMs === undefined ? { id: `${id}/${step}`, trace } : { id: `${id}/${step}`, trace, timeoutMs }
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.closing) throw new Halt()
        mark.attempts = attempt
        try {
          const out = await this.s.host.act(msg, undefined, opts)
          return { ok: true, out, attempts: attempt, startedAt, endedAt: this.s.clock.now() }
        } catch (err) {
          const e = asError(err)
          // A call refused because this instance closes is not the participant's answer.
          if (this.closing) throw new Halt()
          if (attempt >= tries.attempts || !(always || ERRORS[e.code].retryable))
            return { ok: false, error: e.toJSON(), attempts: attempt, startedAt, endedAt: this.s.clock.now() }
          await this.pause(Math.min(MAX_BACKOFF_MS, tries.backoffMs * 2 ** (attempt - 1)))
        }
      }
    } finally {
      if (this.flying.get(id) === mark) this.flying.delete(id)
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.s.clock.setTimer(resolve, ms))
  }

  /**
   * Emits a saga's outcome event, with a fixed message id, before the workflow's end is
   * recorded: at least once without a record of its own, as a crash before that end replays
   * the workflow (its steps from their records) and emits again. Nothing waits on it but the end.
   */
  private async announce(run: EngineRun, input: SagaInput, event: string, data: Message): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.closing) throw new Halt()
      try {
        await this.s.host.emit(event, data, { id: `${run.id}/${event}`, trace: input.trace })
        return
      } catch (err) {
        if (this.closing) throw new Halt()
        if (attempt >= this.s.undo.attempts) {
          this.s.log.error(
            { id: run.id, event, err: asError(err).message },
            'a saga outcome event could not be emitted',
          )
          return
        }
        await this.pause(Math.min(MAX_BACKOFF_MS, this.s.undo.backoffMs * 2 ** (attempt - 1)))
      }
    }
  }
}

/**
 * A saga's steps for its status: each act and undo from its recorded outcome, in the engine's
 * order, and each sleep and wait from the marks the saga recorded at their start.
 */
function stepsOf(recorded: { name: string; out: unknown }[], marks: readonly SagaStepStatus[]): SagaStepStatus[] {
  const left = new Map(marks.map((m) => [m.step, m]))
  const steps: SagaStepStatus[] = []
  for (const { name, out } of recorded) {
    if (name.startsWith('emit:')) continue
    if (name.startsWith('at:')) {
      const mark = left.get(name.slice('at:'.length))
      if (mark === undefined) continue
      left.delete(mark.step)
      steps.push({ ...mark })
      continue
    }
    const o = out as Outcome
    const kind = name.startsWith('undo:') ? 'undo' : 'act'
    steps.push({ step: name, kind, ...(outcomeStatus(o) as Omit<SagaStepStatus, 'step' | 'kind'>) })
  }
  // A sleep or wait whose start is not recorded yet.
  for (const mark of left.values()) steps.push({ ...mark })
  // A sleep or wait with a step after it is over, though no status was written since.
  for (let i = 0; i < steps.length - 1; i++) {
    const s = steps[i]!
    if (s.state === 'waiting') steps[i] = { ...s, state: 'done' }
  }
  return steps
}

function outcomeStatus(o: Outcome): Partial<SagaStepStatus> {
  const st: Partial<SagaStepStatus> = {
    state: o.ok ? 'done' : 'failed',
    attempts: o.attempts,
    startedAt: o.startedAt,
    endedAt: o.endedAt,
  }
  if (o.error !== undefined) st.error = o.error
  return st
}
