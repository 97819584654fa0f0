import type { StoaErrorJSON } from '../../actions/index.js'
import { ERRORS, StoaError } from '../../actions/index.js'
import { loadPeer } from '../../actions/transport.js'
import type { EngineRun, EngineSettings, SagaEngine, WorkflowBody, WorkflowInfo } from './engine.js'
import { Halt } from './engine.js'

type Sdk = typeof import('@dbos-inc/dbos-sdk')
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
}

/** DBOS is one object per process: a second engine would share and confuse its registry. */
let taken = false

/**
 * The DBOS Transact engine (`@dbos-inc/dbos-sdk`, install it beside stoa): workflows, their
 * steps, events and messages kept in PostgreSQL, resumed after a crash from the last recorded
 * step. DBOS does not run on PGlite: give it a PostgreSQL server. One per process.
 *
 * @example
 * const engine = createDbosEngine({ url: 'postgres://127.0.0.1:5432/orders', executorId: 'orders-1' })
 */
export function createDbosEngine(options: DbosEngineOptions): SagaEngine {
  if (typeof options?.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url))
    throw new StoaError('INVALID_OPTIONS', 'createDbosEngine: url must be a postgres:// URL', { fields: ['url'] })
  return new DbosEngine(options)
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
  // JavaScript-private, so that freezing the plugin's options (this engine among them) leaves it writable.
  #dbos: Dbos | undefined

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
        applicationVersion: settings.version,
        logLevel: 'warn',
      }
      if (this.options.executorId !== undefined) config.executorID = this.options.executorId
      DBOS.setConfig(config)
      for (const [workflow, body] of this.bodies) {
        const fn = async (input: unknown): Promise<unknown> => body(input, new DbosRun(DBOS))
        this.workflows.set(workflow, DBOS.registerWorkflow(fn, { name: workflow }))
      }
      await DBOS.launch()
      this.#dbos = DBOS
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
      await this.db.startWorkflow(fn, { workflowID: id })(input)
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
    createdAt: number
  }): WorkflowInfo {
    const state = stateOf(st.status)
    const info: WorkflowInfo = { id: st.workflowID, workflow: st.workflowName, state, createdAt: Number(st.createdAt) }
    return state === 'error' ? { ...info, error: errorJSON(st.error ?? { message: st.status }) } : info
  }

  async settled(id: string): Promise<void> {
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
    await dbos.shutdown({ deregister: true })
    taken = false
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
