import type { Clock, StoaErrorJSON } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { EngineRun, EngineSettings, SagaEngine, WorkflowBody, WorkflowInfo } from './engine.js'
import { Halt } from './engine.js'

/** One recorded operation of a workflow. */
interface Op {
  readonly name: string
  done: boolean
  out?: unknown
  /** When a `recv` gives up, fixed at its first call. */
  deadline?: number
}

interface Flow {
  readonly id: string
  readonly workflow: string
  readonly version: string
  readonly input: unknown
  readonly createdAt: number
  state: WorkflowInfo['state']
  error?: StoaErrorJSON
  output?: unknown
  readonly ops: Op[]
  readonly events: Map<string, unknown>
  readonly topics: Map<string, unknown[]>
  /** Wakes the workflow's `recv`: a message came, or the engine closes. */
  wake: (() => void) | undefined
  readonly settled: Promise<void>
  settle: () => void
}

/** What JSON keeps of a value: what a durable engine would give back after a restart. */
function recorded(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
}

/**
 * The in-memory engine: workflows and their operations in maps of this object. It is **not
 * durable**: a process that ends loses every saga in flight, and their undos never run. It
 * exists for the embedded default and for tests; it says so when it launches. One engine
 * object handed to two instances one after the other resumes, in the second, what the first
 * left pending (the shape of a restart, within one process).
 *
 * @example
 * import sagas, { createMemoryEngine } from 'stoa/saga'
 *
 * const engine = createMemoryEngine()
 * createStoa({ name: 'orders' }).use(sagas, { engine })
 */
export function createMemoryEngine(): SagaEngine {
  return new MemoryEngine()
}

class MemoryEngine implements SagaEngine {
  readonly name = 'memory'
  readonly durable = false
  private readonly bodies = new Map<string, WorkflowBody>()
  private readonly flows = new Map<string, Flow>()
  // JavaScript-private, so that freezing the plugin's options (this engine among them) leaves them writable.
  #settings: EngineSettings | undefined
  /** Goes up at each close: a workflow of an earlier epoch is halted at its next operation. */
  #epoch = 0

  get epoch(): number {
    return this.#epoch
  }

  register(workflow: string, body: WorkflowBody): void {
    this.bodies.set(workflow, body)
  }

  async launch(settings: EngineSettings): Promise<void> {
    this.#settings = settings
    settings.log.warn(
      { service: settings.service, engine: this.name },
      'sagas run on the in-memory engine: NOT durable, a saga in flight is lost with the process (use the dbos engine on PostgreSQL)',
    )
    for (const flow of this.flows.values()) {
      if (flow.state !== 'pending') continue
      if (flow.version !== settings.version) {
        settings.log.warn(
          { id: flow.id, version: flow.version },
          'saga of another version left for a worker running it',
        )
        continue
      }
      this.execute(flow)
    }
  }

  get clock(): Clock {
    if (this.#settings === undefined) throw new StoaError('UNAVAILABLE', 'the saga engine is not launched')
    return this.#settings.clock
  }

  async start(workflow: string, id: string, input: unknown): Promise<void> {
    const settings = this.#settings
    if (settings === undefined) throw new StoaError('UNAVAILABLE', 'the saga engine is not launched')
    if (this.flows.has(id)) return
    let settle: () => void = () => {}
    const settled = new Promise<void>((resolve) => {
      settle = resolve
    })
    const flow: Flow = {
      id,
      workflow,
      version: settings.version,
      input: recorded(input),
      createdAt: settings.clock.now(),
      state: 'pending',
      ops: [],
      events: new Map(),
      topics: new Map(),
      wake: undefined,
      settled,
      settle,
    }
    this.flows.set(id, flow)
    this.execute(flow)
  }

  private execute(flow: Flow): void {
    const body = this.bodies.get(flow.workflow)
    if (body === undefined) {
      this.#settings?.log.error({ id: flow.id, workflow: flow.workflow }, 'no saga of that name here: left pending')
      return
    }
    const epoch = this.epoch
    const run = new MemoryRun(flow, this, epoch)
    // Started on a later turn, as a durable engine starts a workflow after recording it.
    Promise.resolve()
      .then(() => body(recorded(flow.input), run))
      .then(
        (output) => {
          if (epoch !== this.epoch) return
          flow.output = recorded(output)
          flow.state = 'success'
          flow.settle()
        },
        (err: unknown) => {
          if (err instanceof Halt || epoch !== this.epoch) return
          flow.state = 'error'
          flow.error = (err instanceof StoaError ? err : new StoaError('ACTION_FAILED', String(err))).toJSON()
          flow.settle()
        },
      )
  }

  async send(id: string, topic: string, message: unknown): Promise<void> {
    const flow = this.flows.get(id)
    if (flow === undefined) throw new StoaError('NOT_FOUND', `no saga ${id}`, { id })
    let queue = flow.topics.get(topic)
    if (queue === undefined) flow.topics.set(topic, (queue = []))
    queue.push(recorded(message))
    flow.wake?.()
  }

  async getEvent(id: string, key: string): Promise<unknown> {
    return recorded(this.flows.get(id)?.events.get(key))
  }

  async steps(id: string): Promise<{ name: string; out: unknown }[]> {
    const ops = this.flows.get(id)?.ops ?? []
    return ops
      .filter((op) => op.done && op.name.startsWith('step:'))
      .map((op) => ({ name: op.name.slice('step:'.length), out: recorded(op.out) }))
  }

  async info(id: string): Promise<WorkflowInfo | undefined> {
    const flow = this.flows.get(id)
    return flow === undefined ? undefined : infoOf(flow)
  }

  async list(options: { workflows: readonly string[]; limit: number }): Promise<WorkflowInfo[]> {
    const names = new Set(options.workflows)
    return [...this.flows.values()]
      .filter((f) => names.has(f.workflow))
      .reverse()
      .slice(0, options.limit)
      .map(infoOf)
  }

  settled(id: string): Promise<void> {
    return this.flows.get(id)?.settled ?? Promise.resolve()
  }

  async close(): Promise<void> {
    this.#settings = undefined
    this.#epoch++
    for (const flow of this.flows.values()) flow.wake?.()
  }
}

function infoOf(flow: Flow): WorkflowInfo {
  const info: WorkflowInfo = { id: flow.id, workflow: flow.workflow, state: flow.state, createdAt: flow.createdAt }
  if (flow.error !== undefined) return { ...info, error: flow.error }
  return flow.output === undefined ? info : { ...info, output: recorded(flow.output) }
}

/** One execution of a workflow: replays the recorded operations, records the new ones. */
class MemoryRun implements EngineRun {
  private pos = 0

  constructor(
    private readonly flow: Flow,
    private readonly engine: MemoryEngine,
    private readonly epoch: number,
  ) {}

  get id(): string {
    return this.flow.id
  }

  private alive(): void {
    if (this.epoch !== this.engine.epoch) throw new Halt()
  }

  /** The operation at the next position: the recorded one (which must have this name) or a new one. */
  private next(name: string): Op {
    this.alive()
    const at = this.pos++
    const op = this.flow.ops[at]
    if (op === undefined) {
      const fresh: Op = { name, done: false }
      this.flow.ops.push(fresh)
      return fresh
    }
    if (op.name !== name)
      throw new StoaError(
        'SAGA_CHANGED',
        `saga ${this.flow.id}: operation ${at} was "${op.name}", the code now asks for "${name}"`,
        {
          id: this.flow.id,
          position: at,
          recorded: op.name,
          asked: name,
        },
      )
    return op
  }

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const op = this.next(`step:${name}`)
    if (op.done) return recorded(op.out) as T
    const out = await fn()
    this.alive()
    op.out = recorded(out)
    op.done = true
    return out
  }

  async recv(topic: string, timeoutMs: number): Promise<unknown> {
    const op = this.next(`recv:${topic}`)
    if (op.done) return recorded(op.out)
    const clock = this.engine.clock
    op.deadline ??= clock.now() + timeoutMs
    for (;;) {
      const queue = this.flow.topics.get(topic)
      if (queue !== undefined && queue.length > 0) {
        op.out = queue.shift()
        op.done = true
        return recorded(op.out)
      }
      const left = op.deadline - clock.now()
      if (left <= 0) {
        op.done = true
        return undefined
      }
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(() => resolve(), left)
        this.flow.wake = () => {
          clock.clearTimer(timer)
          resolve()
        }
      })
      this.flow.wake = undefined
      this.alive()
    }
  }

  async setEvent(key: string, value: unknown): Promise<void> {
    const op = this.next(`event:${key}`)
    this.flow.events.set(key, recorded(value))
    op.done = true
  }
}
