import type { StoaErrorJSON } from '../../actions/index.js'
import { ERRORS, StoaError } from '../../actions/index.js'
import { loadPeer } from '../../actions/transport.js'
import type { EngineRun, EngineSettings, SagaEngine, WorkflowBody, WorkflowInfo } from './engine.js'
import { Halt } from './engine.js'

type Sdk = typeof import('@dbos-inc/dbos-sdk')
type Pg = typeof import('pg')
type Pool = import('pg').Pool
type Dbos = Sdk['DBOS']

/** Options of the DBOS engine. */
export interface DbosEngineOptions {
  /**
   * The PostgreSQL database DBOS keeps workflows in (`postgres://…`): created when missing. The
   * service's own database fits (DBOS uses a schema of its own, `dbos`).
   */
  url: string
  /**
   * This worker's executor id: a restarted worker resumes the sagas its id left pending. Give
   * each worker of a service its own, stable across restarts (the pod's name). Default: DBOS's
   * (`DBOS__VMID`, else `local`).
   */
  executorId?: string
  /** The application name DBOS scopes workflows by. Default: the service's name. */
  app?: string
  /**
   * Taking over a dead worker's sagas (DBOS resumes only its own executor's by itself): every
   * worker records a heartbeat every `heartbeatMs` (default 2000) in `stoa_saga_workers`; one
   * whose heartbeat is older than `afterMs` (default 15 000) is claimed by one live worker,
   * which resumes that worker's pending sagas. `false` turns it off.
   */
  takeover?: false | { heartbeatMs?: number; afterMs?: number }
}

/** The advisory lock workers launch under (any fixed number: `stoa saga` in ASCII). */
const LAUNCH_LOCK = 0x73746f615f736167n.toString()

/** DBOS is one object per process: a second engine would share and confuse its registry. */
let taken = false

/**
 * The DBOS Transact engine (`@dbos-inc/dbos-sdk`, install it beside stoa): workflows, their
 * steps, events and messages kept in PostgreSQL, resumed after a crash from the last recorded
 * step. DBOS does not run on PGlite: give it a PostgreSQL server. One per process.
 *
 * A saga's sleeps and its waits' timeouts are DBOS's own durable timers (`DBOS.recv` with a
 * timeout, its deadline kept in PostgreSQL so that a resumed workflow waits only what is left):
 * they run on the real time and cannot follow a virtual clock (`stoa/testing`). A step's retry
 * backoff does follow the instance's clock. Test a saga's timing on the in-memory engine.
 *
 * @example
 * const engine = createDbosEngine({ url: 'postgres://127.0.0.1:5432/orders', executorId: 'orders-1' })
 */
export function createDbosEngine(options: DbosEngineOptions): SagaEngine {
  if (typeof options?.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url))
    throw new StoaError('INVALID_OPTIONS', 'createDbosEngine: url must be a postgres:// URL', { fields: ['url'] })
  return new DbosEngine(options)
}

/**
 * How DBOS writes what a saga records (its trigger, each step's outcome, its status, signals,
 * errors): plain JSON, instead of DBOS's default SuperJSON, which walks every value several
 * times (writing it, reading it back, stubbing its functions) and cost more CPU per saga than
 * all of stoa's code.
 * JSON is what the in-memory engine keeps too and what any transport carries: a Date comes
 * back as its ISO string, `undefined` fields are dropped, a BigInt or a cycle cannot be
 * written (the step or start fails with `ACTION_FAILED` saying so). Errors keep their code,
 * message and details: DBOS hands them over as serialize-error's plain copy, which is the
 * StoaError's `toJSON()`. Each record names its format: runs recorded in SuperJSON by an
 * earlier version are still read as such.
 */
const RECORDS = {
  name: () => 'stoa_json',
  stringify(value: unknown): string {
    try {
      // A string always: DBOS records a void result (a `recv` that timed out) through it too.
      return JSON.stringify(value ?? null)
    } catch (err) {
      throw new StoaError('ACTION_FAILED', `a saga record cannot be written as JSON: ${(err as Error).message}`)
    }
  },
  parse: (text: string | null | undefined): unknown => (text === null || text === undefined ? null : JSON.parse(text)),
}

/** What DBOS recorded as an error, as a stoa error. */
function errorJSON(err: unknown): StoaErrorJSON {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; details?: unknown }
  const code = typeof e.code === 'string' && e.code in ERRORS ? (e.code as StoaErrorJSON['code']) : 'ACTION_FAILED'
  const json: StoaErrorJSON = { code, message: typeof e.message === 'string' ? e.message : String(err) }
  if (e.details !== null && typeof e.details === 'object') json.details = e.details as Record<string, unknown>
  return json
}

/** DBOS's refusal of a replay whose operations differ from the recorded ones, as `SAGA_CHANGED`. */
function changed(err: unknown, id: string): unknown {
  const e = err as { name?: unknown; constructor?: { name?: unknown }; message?: unknown }
  if (e?.constructor?.name !== 'DBOSUnexpectedStepError' && e?.name !== 'DBOSUnexpectedStepError') return err
  return new StoaError('SAGA_CHANGED', `saga ${id}: ${String(e.message)}`, { id })
}

function stateOf(status: string): WorkflowInfo['state'] {
  if (status === 'SUCCESS') return 'success'
  if (status === 'PENDING' || status === 'ENQUEUED' || status === 'DELAYED') return 'pending'
  return 'error'
}

class DbosEngine implements SagaEngine {
  readonly name = 'dbos'
  readonly durable = true
  private readonly bodies = new Map<string, WorkflowBody>()
  private readonly workflows = new Map<string, (input: unknown) => Promise<unknown>>()
  /** The ends of the workflows started by this process and still running: waited for without polling. */
  private readonly running = new Map<string, Promise<void>>()
  // JavaScript-private, so that freezing the plugin's options (this engine among them) leaves them writable.
  #dbos: Dbos | undefined
  #watch: Takeover | undefined

  constructor(private readonly options: DbosEngineOptions) {}

  register(workflow: string, body: WorkflowBody): void {
    this.bodies.set(workflow, body)
  }

  private get db(): Dbos {
    if (this.#dbos === undefined) throw new StoaError('UNAVAILABLE', 'the dbos saga engine is not launched')
    return this.#dbos
  }

  async launch(settings: EngineSettings): Promise<void> {
    if (taken) throw new StoaError('INVALID_PLUGIN', 'one dbos saga engine per process: DBOS keeps one registry')
    taken = true
    try {
      const { DBOS } = await loadPeer<Sdk>('@dbos-inc/dbos-sdk', 'stoa/saga')
      const config: Parameters<Dbos['setConfig']>[0] = {
        name: this.options.app ?? settings.service,
        systemDatabaseUrl: this.options.url,
        // DBOS wants an application version unique across the applications of one database.
        applicationVersion: `${this.options.app ?? settings.service}-${settings.version}`,
        // DBOS logs where the service logs, as `dbos` lines.
        logger: {
          debug: (entry: unknown) => settings.log.debug({ engine: 'dbos' }, String(entry)),
          info: (entry: unknown) => settings.log.info({ engine: 'dbos' }, String(entry)),
          warn: (entry: unknown) => settings.log.warn({ engine: 'dbos' }, String(entry)),
          error: (entry: unknown) =>
            settings.log.error({ engine: 'dbos' }, entry instanceof Error ? entry.message : String(entry)),
        },
      }
      if (this.options.executorId !== undefined) config.executorID = this.options.executorId
      config.serializer = RECORDS
      DBOS.setConfig(config)
      for (const [workflow, body] of this.bodies) {
        const fn = async (input: unknown): Promise<unknown> => {
          try {
            return await body(input, new DbosRun(DBOS))
          } catch (err) {
            // Closing between two steps: the workflow's end is not recorded either (see step).
            if (err instanceof Halt) return new Promise<never>(() => {})
            throw err
          }
        }
        this.workflows.set(workflow, DBOS.registerWorkflow(fn, { name: workflow }))
      }
      const pg = await loadPeer<{ default: Pg }>('pg', 'stoa/saga')
      const pool = new pg.default.Pool({ connectionString: this.options.url, max: 2 })
      const takeover = this.options.takeover
      if (takeover !== false && this.options.executorId !== undefined)
        this.#watch = new Takeover(pool, {
          app: config.name,
          executor: this.options.executorId,
          heartbeatMs: takeover?.heartbeatMs ?? 2000,
          afterMs: takeover?.afterMs ?? 15_000,
          workflows: [...this.bodies.keys()],
          log: settings.log,
        })
      // Workers starting together on a new database would deadlock in DBOS's own migrations:
      // they launch one at a time, under a session advisory lock. It is tried, not waited
      // for: a session waiting on it would hold a snapshot, which the migrations' CREATE INDEX
      // CONCURRENTLY waits for in turn.
      let failed: unknown
      const lock = await pool.connect().catch(async (err: unknown) => {
        await pool.end().catch(() => undefined)
        throw err
      })
      try {
        while (!(await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LAUNCH_LOCK])).rows[0]?.ok)
          await new Promise((r) => setTimeout(r, 100))
        // The heartbeat first: a worker that starts again is not taken over while it launches.
        await this.#watch?.beat()
        await DBOS.launch()
      } catch (err) {
        failed = err
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [LAUNCH_LOCK]).catch(() => undefined)
        lock.release()
      }
      if (failed !== undefined || this.#watch === undefined) await pool.end()
      if (failed !== undefined) {
        this.#watch = undefined
        throw failed
      }
      this.#dbos = DBOS
      this.#watch?.start(DBOS)
    } catch (err) {
      taken = false
      if (err instanceof StoaError) throw err
      throw new StoaError(
        'UNAVAILABLE',
        `the dbos saga engine could not start: ${String((err as Error)?.message ?? err)}`,
        undefined,
        {
          cause: err,
        },
      )
    }
  }

  async start(workflow: string, id: string, input: unknown): Promise<void> {
    const fn = this.workflows.get(workflow)
    if (fn === undefined) throw new StoaError('NOT_FOUND', `no saga workflow ${workflow}`)
    try {
      const handle = await this.db.startWorkflow(fn, { workflowID: id })(input)
      // A run of this process is awaited in memory; DBOS's handle of one that runs elsewhere
      // (or was started before) would poll the database while the saga lasts: settled() polls
      // for those only when asked.
      if (handle.constructor.name === 'InvokedHandle' && !this.running.has(id)) {
        const end = handle.getResult().then(
          () => undefined,
          () => undefined,
        )
        this.running.set(id, end)
        void end.then(() => this.running.delete(id))
      }
    } catch (err) {
      if ((err as Error)?.constructor?.name === 'DBOSConflictingWorkflowError')
        throw new StoaError('INVALID_MESSAGE', `saga id ${id} is taken by another saga`, { id })
      throw err
    }
  }

  async send(id: string, topic: string, message: unknown): Promise<void> {
    await this.db.send(id, message, topic)
  }

  async getEvent(id: string, key: string): Promise<unknown> {
    return (await this.db.getEvent(id, key, { timeoutSeconds: 0 })) ?? undefined
  }

  async steps(id: string): Promise<{ name: string; out: unknown }[]> {
    const steps = (await this.db.listWorkflowSteps(id)) ?? []
    // DBOS records its own operations (messages, events, sleeps) as steps named DBOS.*.
    return steps
      .filter((st) => !st.name.startsWith('DBOS.') && st.error === null)
      .map((st) => ({ name: st.name, out: st.output }))
  }

  async info(id: string): Promise<WorkflowInfo | undefined> {
    const st = await this.db.getWorkflowStatus(id)
    return st === null ? undefined : this.infoOf(st)
  }

  async list(options: { workflows: readonly string[]; limit: number }): Promise<WorkflowInfo[]> {
    if (options.workflows.length === 0) return []
    const rows = await this.db.listWorkflows({
      workflowName: [...options.workflows],
      limit: options.limit,
      sortDesc: true,
      loadInput: false,
      loadOutput: false,
    })
    return rows.map((r) => this.infoOf(r))
  }

  private infoOf(st: {
    workflowID: string
    workflowName: string
    status: string
    error?: unknown
    output?: unknown
    createdAt: number
  }): WorkflowInfo {
    const state = stateOf(st.status)
    const info: WorkflowInfo = { id: st.workflowID, workflow: st.workflowName, state, createdAt: Number(st.createdAt) }
    if (state === 'error') return { ...info, error: errorJSON(st.error ?? { message: st.status }) }
    return st.output === undefined || st.output === null ? info : { ...info, output: st.output }
  }

  async settled(id: string): Promise<void> {
    const local = this.running.get(id)
    if (local !== undefined) return local
    try {
      await this.db.retrieveWorkflow(id).getResult({ pollingIntervalMs: 50 })
    } catch {
      // An error is an end too.
    }
  }

  async close(): Promise<void> {
    const dbos = this.#dbos
    this.#dbos = undefined
    if (dbos === undefined) return
    await this.#watch?.stop()
    this.#watch = undefined
    await dbos.shutdown({ deregister: true })
    this.running.clear()
    taken = false
  }
}

/** What a worker's takeover watch is made with. */
interface TakeoverSettings {
  readonly app: string
  readonly executor: string
  readonly heartbeatMs: number
  readonly afterMs: number
  readonly workflows: readonly string[]
  readonly log: EngineSettings['log']
}

/**
 * The heartbeat of this worker, and the takeover of dead ones: a worker whose heartbeat is older
 * than `afterMs` is deleted from the table by one live worker (the DELETE is the claim: two
 * survivors cannot both win it), which resumes the dead worker's pending sagas through DBOS.
 */
class Takeover {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> = Promise.resolve()

  constructor(
    private readonly pool: Pool,
    private readonly s: TakeoverSettings,
  ) {}

  async beat(): Promise<void> {
    await this.pool.query(
      `CREATE TABLE IF NOT EXISTS stoa_saga_workers (
         app text NOT NULL, executor text NOT NULL, beat timestamptz NOT NULL, PRIMARY KEY (app, executor))`,
    )
    await this.pool.query(
      `INSERT INTO stoa_saga_workers (app, executor, beat) VALUES ($1, $2, now())
       ON CONFLICT (app, executor) DO UPDATE SET beat = now()`,
      [this.s.app, this.s.executor],
    )
  }

  start(dbos: Dbos): void {
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.round(dbos))
        .catch((err: unknown) => {
          this.s.log.warn({ err: String(err) }, 'saga worker heartbeat failed')
        })
    }, this.s.heartbeatMs)
    this.timer.unref()
  }

  private async round(dbos: Dbos): Promise<void> {
    await this.beat()
    const { rows } = await this.pool.query<{ executor: string }>(
      `DELETE FROM stoa_saga_workers
       WHERE app = $1 AND executor <> $2 AND beat < now() - make_interval(secs => $3)
       RETURNING executor`,
      [this.s.app, this.s.executor, this.s.afterMs / 1000],
    )
    for (const { executor } of rows) {
      const pending = await dbos.listWorkflows({
        executorId: executor,
        status: 'PENDING',
        workflowName: [...this.s.workflows],
        loadInput: false,
        loadOutput: false,
      })
      if (pending.length === 0) continue
      await dbos.resumeWorkflows(pending.map((w) => w.workflowID))
      this.s.log.warn({ executor, sagas: pending.length }, 'took over the sagas of a dead worker')
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
    await this.pool.end()
  }
}

/** A workflow's operations on DBOS: steps, messages and events, each recorded by DBOS. */
class DbosRun implements EngineRun {
  readonly id: string

  constructor(private readonly dbos: Dbos) {
    this.id = dbos.workflowID ?? ''
  }

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.dbos.runStep(
        async () => {
          try {
            return await fn()
          } catch (err) {
            // Closing: recording the interruption would replay it as the step's outcome, so
            // the step never ends here; the process is going, and the next launch runs it again.
            if (err instanceof Halt) return new Promise<T>(() => {})
            throw err
          }
        },
        { name },
      )
    } catch (err) {
      throw changed(err, this.id)
    }
  }

  async recv(topic: string, timeoutMs: number): Promise<unknown> {
    // A durable timer of DBOS's, on the real time: under a virtual clock it still takes `timeoutMs`.
    try {
      return (await this.dbos.recv(topic, { timeoutSeconds: timeoutMs / 1000 })) ?? undefined
    } catch (err) {
      throw changed(err, this.id)
    }
  }

  async setEvent(key: string, value: unknown): Promise<void> {
    try {
      await this.dbos.setEvent(key, value)
    } catch (err) {
      throw changed(err, this.id)
    }
  }
}
