/**
 * The saga plugin, `stoa/saga`: runs the sagas a service defines with `stoa.saga(pattern, …)`
 * on an engine (DBOS Transact on PostgreSQL, or in memory, not durable), and serves their
 * control actions `role:saga,cmd:list|status|signal|cancel`. See docs/sagas.md.
 *
 * @module stoa/saga
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { PluginHost } from '../../actions/index.js'
import { action, definePlugin, StoaError } from '../../actions/index.js'
import type { SagaEngine } from './engine.js'
import { createMemoryEngine } from './memory.js'
import { sagaOptions } from './options.js'
import type { SagaState, SagaStatus } from './runtime.js'
import { SagaRunner } from './runtime.js'

export type { DbosEngineOptions } from './dbos.js'
export { createDbosEngine } from './dbos.js'
export type { EngineRun, EngineSettings, SagaEngine, WorkflowBody, WorkflowInfo } from './engine.js'
export { Halt } from './engine.js'
export { createMemoryEngine } from './memory.js'
export type { SagaOptions } from './options.js'
export type { SagaState, SagaStatus, SagaStepStatus } from './runtime.js'

/** What `stoa.handleOf(sagas)` gives: the engine, and the control actions as functions. */
export interface SagaHandle {
  readonly engine: SagaEngine
  /** A saga's status (`undefined` when there is none of that id). */
  status(id: string): Promise<SagaStatus | undefined>
  /** Resolves once the saga has ended, with its status. */
  settled(id: string): Promise<SagaStatus | undefined>
}

const STATES = [
  'running',
  'sleeping',
  'waiting',
  'compensating',
  'completed',
  'compensated',
  'compensation_failed',
  'failed',
] as const satisfies readonly SagaState[]

const sagaId = z.string().min(1).max(400)

/**
 * The saga plugin. At start it registers every saga of the service (`stoa.saga`) with its
 * engine and launches it, which resumes the sagas left pending by an earlier run of this
 * worker. The default engine is in memory and says at start that it is **not durable**; give
 * `createDbosEngine({ url })` for sagas that survive a crash.
 *
 * @example
 * import sagas, { createDbosEngine } from 'stoa/saga'
 *
 * const orders = createStoa({ name: 'orders' })
 *   .use(sagas, { engine: createDbosEngine({ url: 'postgres://127.0.0.1/orders' }) })
 *   .saga('role:order,cmd:place', {
 *     id: (msg) => `order:${String(msg.id)}`,
 *     version: 1,
 *     async run(msg, saga) {
 *       await saga.act('charge', { role: 'payment', cmd: 'charge', amount: msg.amount },
 *         { undo: () => ({ role: 'payment', cmd: 'refund', order: msg.id }) })
 *       return { order: msg.id }
 *     },
 *   })
 */
const sagas = definePlugin({
  name: 'saga',
  options: sagaOptions,
  setup: (options, setup) => {
    const engine = options.engine ?? createMemoryEngine()
    let runner: SagaRunner | undefined
    const ready = (): SagaRunner => {
      if (runner === undefined) throw new StoaError('UNAVAILABLE', 'the saga plugin has not started')
      return runner
    }
    const handle: SagaHandle = {
      engine,
      status: (id) => ready().status(id),
      settled: async (id) => {
        await engine.settled(id)
        return ready().status(id)
      },
    }
    return {
      actions: {
        'role:saga,cmd:list': action({
          description: "this service's sagas, newest first",
          schema: z.object({ state: z.enum(STATES).optional(), limit: z.number().int().min(1).max(1000).default(50) }),
          handler: (msg) => ready().list(msg.limit, msg.state),
        }),
        'role:saga,cmd:status': action({
          description: "a saga's state and each step's state, attempts and times",
          schema: z.object({ id: sagaId }),
          handler: async (msg) => {
            const st = await ready().status(msg.id)
            if (st === undefined) throw new StoaError('NOT_FOUND', `no saga ${msg.id}`, { id: msg.id })
            return st
          },
        }),
        'role:saga,cmd:signal': action({
          description: 'sends a saga a signal, which its waitFor(name) takes',
          schema: z.object({ id: sagaId, name: z.string().min(1).max(200), data: z.unknown().optional() }),
          handler: (msg) => ready().signal(msg.id, msg.name, msg.data),
        }),
        'role:saga,cmd:cancel': action({
          description: 'asks a saga to stop: at its next sleep or wait its steps are undone',
          schema: z.object({ id: sagaId, reason: z.string().max(1000).optional() }),
          handler: (msg) => ready().cancel(msg.id, msg.reason ?? ''),
        }),
      },
      init: async (stoa: PluginHost) => {
        let started: SagaRunner | undefined
        const serving = stoa.serveSagas({
          start: (pattern, msg, ctx) => {
            if (started === undefined)
              return Promise.reject(new StoaError('UNAVAILABLE', 'the saga engine is not started yet'))
            return started.start(pattern, msg, ctx)
          },
        })
        const made = new SagaRunner({
          host: stoa,
          engine,
          definitions: serving.definitions,
          clock: serving.clock,
          log: setup.log,
          retry: options.retry,
          undo: options.undo,
        })
        // The version of the workflows: a worker resumes only the runs its own sagas' versions made.
        const versions = [...serving.definitions].map(([p, d]) => `${p}@${d.version}`).sort()
        const version = createHash('sha256').update(versions.join('\n')).digest('hex').slice(0, 16)
        await engine.launch({ clock: serving.clock, log: setup.log, service: setup.name, version })
        started = made
        runner = made
        return async () => {
          made.closing = true
          await engine.close()
        }
      },
      handle,
    }
  },
})

export default sagas
