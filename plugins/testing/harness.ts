import type { CallOptions, Logger, Message, Service, Stoa, StoaOptions, Timer } from '../../actions/index.js'
import { createStoa, parsePattern, StoaError } from '../../actions/index.js'
import type { ErrorCode, Reply, Transport, TransportHost } from '../../actions/transport.js'
import { describeMessage, errorReply, pinKeys } from '../../actions/transport.js'
import type { BrokerMember, BrokerPolicy, DeadLetter, FaultChooser, Published } from './broker.js'
import { DEFAULT_POLICY, SimBroker } from './broker.js'
import { durationMs, realTurn, VirtualClock } from './clock.js'
import type { FaultRule } from './faults.js'
import { FaultRules, SeededRandom } from './faults.js'

/** Options of {@link createHarness}. */
export interface HarnessOptions {
  /** Seeds the random draws of rules with a `rate`: the same seed replays the same faults. Default 1. */
  seed?: number
  /** Fault rules from the start (more with `harness.fault(rule)`). */
  faults?: readonly FaultRule[]
  /** The broker's retry rules; defaults as the amqp transport's, with a 30 s ack wait. */
  policy?: Partial<BrokerPolicy>
  /** Where the virtual clock starts, ms since the epoch. */
  startAt?: number
  /** Faults beyond the rules, one per fault point (the property runner's plan). */
  chooser?: FaultChooser
  /** Makes every delivery wait for its turn (the property runner's scheduler). */
  gate?: (label: string) => Promise<void>
  /** Lets one gated delivery go; false when none waits (the property runner's scheduler). */
  drive?: () => Promise<boolean>
}

/**
 * What the harness passes to a service's factory: `clock` and `logger` for `createStoa` (spread
 * the object in: `createStoa({ name, ...o })`), and `effect` for the plugins that take one.
 */
export interface HarnessServiceOptions {
  readonly clock: VirtualClock
  readonly logger: Logger
  /**
   * Runs an effect of this instance (a transaction, a charge, an outbox relay's publish) and
   * gives its result; when a fault rule (`{ fault: 'crash', effect: name }`) or the property
   * runner's schedule says so, the instance dies right after it: the effect stays done, the
   * handler goes no further (it rejects with a {@link SimulatedCrash}), and nothing of it is
   * acknowledged. A plugin that takes such a wrapper lets a test crash it between two steps.
   */
  readonly effect: <T>(name: string, fn: () => Promise<T>) => Promise<T>
}

/** What a handler sees when its instance is crashed after an effect: it stops there. */
export class SimulatedCrash extends Error {
  constructor(readonly effect: string) {
    super(`simulated crash after the effect "${effect}"`)
    this.name = 'SimulatedCrash'
  }
}

/** How to start a service: a `defineService` service, or a factory of instances. */
export type ServiceSource = Service | ((options: HarnessServiceOptions) => Stoa<any>)

/** Options of {@link Harness.start}. */
export interface StartOptions {
  /** Patterns this service calls on others with `act` (its client pins). Default none. */
  calls?: readonly (string | Message)[]
  /** How many instances compete for its tasks. Default 1. */
  instances?: number
}

/** A service started by the harness: its instances, which it restarts when they crash. */
export interface RunningService {
  readonly name: string
  /** The live instances. */
  instances(): Stoa<any>[]
  /** How many instances have been started, restarts included. */
  readonly starts: number
  /** Kills instance `i` at once (its unacknowledged work returns to the queue) and starts another. */
  crash(i?: number): Promise<void>
}

/** A log entry an instance wrote. */
export interface LogEntry {
  readonly level: string
  readonly fields: Record<string, unknown>
  readonly message: string
}

/**
 * Services on a simulated broker under a virtual clock: tasks, events and requests travel with
 * the delivery rules of the real brokers (acknowledged, retried with backoff, dead-lettered)
 * and the faults you inject, and time moves only when you move it. Start services, call them,
 * inject faults, then `settle()` and check what they did.
 *
 * @example
 * const h = createHarness({ seed: 7 })
 * await h.start((o) => createStoa({ name: 'tally', ...o }).use(tally))
 * h.fault({ fault: 'crash', name: 'tally.vote.record', times: 1 })
 * await h.send('tally.vote.record', { voter: 'ada', choice: 'cats' })
 * await h.settle()
 */
export class Harness {
  readonly clock: VirtualClock
  readonly random: SeededRandom
  readonly broker: SimBroker
  /** What the instances logged. */
  readonly logs: LogEntry[] = []
  private readonly rules: FaultRules
  private readonly running = new Map<string, RunningServiceImpl>()
  private readonly restarting = new Set<Promise<unknown>>()
  private readonly stubs: Stoa<any>[] = []
  private client: Stoa | undefined
  private closed = false
  private readonly drive: (() => Promise<boolean>) | undefined
  private readonly spawned = new Map<number, string>()
  private readonly failures: unknown[] = []
  private spawns = 0
  private calls = 0
  /** Requests of `act` waiting for their answer. */
  private asking = 0

  /** Use {@link createHarness}. */
  constructor(options: HarnessOptions = {}) {
    this.clock = new VirtualClock(options.startAt)
    this.random = new SeededRandom(options.seed ?? 1)
    this.rules = new FaultRules(this.random)
    for (const rule of options.faults ?? []) this.rules.add(rule)
    this.broker = new SimBroker(this.clock, this.rules, { ...DEFAULT_POLICY, ...options.policy })
    this.broker.chooser = options.chooser
    this.broker.gate = options.gate
    this.broker.onCrash = (member) => this.restart(member)
    this.drive = options.drive
  }

  /**
   * Runs `work` beside the test (a client that retries, say), on the virtual clock: `settle`
   * moves time for it, and fails with what it threw.
   *
   * @example
   * h.spawn(() => h.send('tally.vote.record', { voter: 'ada', choice: 'cats' }), 'voter ada')
   */
  spawn(work: () => Promise<unknown>, label = `spawned work ${this.spawns + 1}`): void {
    const id = ++this.spawns
    this.spawned.set(id, label)
    void (async () => work())().then(
      () => this.spawned.delete(id),
      (err: unknown) => {
        this.spawned.delete(id)
        this.failures.push(err)
      },
    )
  }

  /** Throws when spawned work failed, or has not finished though nothing is left to run. */
  assertSpawnsDone(): void {
    if (this.failures.length > 0) throw this.failures[0]
    if (this.spawned.size > 0)
      throw new StoaError('TIMEOUT', `still running once settled: ${[...this.spawned.values()].join(', ')}`)
  }

  /** Adds a fault rule. */
  fault(rule: FaultRule): this {
    this.rules.add(rule)
    return this
  }

  /** A transport on the simulated broker, for assembling an instance by hand. */
  transport(): Transport {
    return simTransport(this.broker, () => undefined)
  }

  /** What instances log to: kept in `logs`. */
  readonly logger: Logger = {
    error: (fields, message) => this.logs.push({ level: 'error', fields, message }),
    warn: (fields, message) => this.logs.push({ level: 'warn', fields, message }),
    info: () => undefined,
    debug: () => undefined,
  }

  /**
   * Starts a service (each instance listening on the broker, and calling through it for tasks,
   * events and the `calls` patterns) and resolves once its instances are ready.
   */
  async start(source: ServiceSource, options: StartOptions = {}): Promise<RunningService> {
    const make = (effect: HarnessServiceOptions['effect']): Stoa<any> => {
      const opts: HarnessServiceOptions = { clock: this.clock, logger: this.logger, effect }
      if (typeof source === 'function') return source(opts)
      const { effect: _, ...stoaOptions } = opts
      return source.create(stoaOptions satisfies Omit<StoaOptions, 'name'>)
    }
    const service = new RunningServiceImpl(this, make, options.calls ?? [])
    const first = await service.spawn()
    if (this.running.has(first.name)) {
      await first.close()
      throw new StoaError('INVALID_OPTIONS', `service "${first.name}" is started already`)
    }
    this.running.set(first.name, service)
    this.broker.declare(first.name)
    for (let i = 1; i < (options.instances ?? 1); i++) await service.spawn()
    return service
  }

  /** The running service of that name. */
  service(name: string): RunningService {
    const s = this.running.get(name)
    if (s === undefined) throw new StoaError('NOT_FOUND', `no service "${name}" in the harness`)
    return s
  }

  /**
   * Stubs a remote service: a service named `name` whose actions answer these patterns (a
   * `task:` pattern handles a task). The handler's result is the answer; what it throws is the
   * error (a `StoaError` keeps its code).
   *
   * @example
   * await h.stub('payments', { 'role:payments,cmd:charge': () => ({ charged: true }) })
   */
  async stub(name: string, actions: Record<string, (msg: Message) => unknown>): Promise<RunningService> {
    return this.start(() => {
      const stoa = createStoa({ name, clock: this.clock, logger: this.logger })
      for (const [pattern, handler] of Object.entries(actions)) stoa.add(pattern, (msg) => handler(msg))
      return stoa
    })
  }

  /**
   * Calls an action on the broker as an outside client (`caller: 'test'`) and resolves with its
   * result or rejects with its `StoaError`. A request whose answer is lost rejects `TIMEOUT`
   * once the virtual clock passes its deadline (default 30 s).
   */
  async act(pattern: string | Message, msg?: Message, opts?: CallOptions): Promise<unknown> {
    const message = typeof pattern === 'string' ? { ...msg, ...parsePattern(pattern) } : { ...pattern, ...msg }
    const looked = Object.keys(typeof pattern === 'string' ? parsePattern(pattern) : pattern)
    const timeoutMs = typeof opts?.timeoutMs === 'number' ? opts.timeoutMs : DEFAULT_TIMEOUT_MS
    const id = opts?.id ?? `test-${++this.calls}`
    const meta = {
      id,
      trace: opts?.trace ?? id,
      deadline: this.clock.now() + timeoutMs,
      token: opts?.token,
      caller: 'test',
    }
    let timer: Timer | undefined
    const late = new Promise<Reply>((resolve) => {
      timer = this.clock.setTimer(
        () =>
          resolve(errorReply(new StoaError('TIMEOUT', `"${describeMessage(message, looked)}" did not answer in time`))),
        timeoutMs,
      )
    })
    this.asking++
    const reply = await Promise.race([this.broker.deliver({ kind: 'act', msg: message, meta }, looked), late])
    this.asking--
    this.clock.clearTimer(timer!)
    if (reply.ok) return reply.out
    throw StoaError.fromJSON(reply.error)
  }

  /** Sends a task as an outside client; rejects when the broker refuses it or its confirm is lost. */
  async send(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return (await this.caller()).send(name, data, opts)
  }

  /** Emits an event as an outside client. */
  async emit(name: string, data?: Message, opts?: CallOptions): Promise<void> {
    return (await this.caller()).emit(name, data, opts)
  }

  /** The tasks published so far (by any service or the test), of one name if given. */
  sent(name?: string): Published[] {
    return this.broker.published.filter((p) => p.kind === 'send' && (name === undefined || p.name === name))
  }

  /** The events published so far, of one name if given. */
  emitted(name?: string): Published[] {
    return this.broker.published.filter((p) => p.kind === 'emit' && (name === undefined || p.name === name))
  }

  /** The tasks and events the broker gave up on. */
  get deadLetters(): readonly DeadLetter[] {
    return this.broker.deadLetters
  }

  /** What happened, a line per step, with the virtual time: print it when a check fails. */
  trace(): string {
    return this.broker.trace.join('\n')
  }

  /** Moves the virtual clock, running what falls due (retries, timeouts, the services' timers). */
  advance(duration: number | string): Promise<void> {
    return this.clock.advance(duration)
  }

  /**
   * Runs until nothing is left to do: every queue empty and every delivery acknowledged or
   * dead-lettered, every restart, request and spawned piece of work done, moving the virtual
   * clock from timer to timer while they wait on it (retries' backoff, ack waits, delays, the
   * services' own timers). Gives up once `within` of virtual time has passed (default 1 h).
   * Resolves with how much virtual time went by, ms; rejects with what spawned work threw.
   */
  async settle(within: number | string = '1h'): Promise<number> {
    const start = this.clock.now()
    const until = start + durationMs(within)
    let quiet = 0
    let seen = -1
    for (;;) {
      await realTurn()
      if (this.drive !== undefined && (await this.drive())) continue
      if (this.broker.progress !== seen || this.restarting.size > 0) {
        seen = this.broker.progress
        quiet = 0
        continue
      }
      // Work in hand that made no step for a while waits on something: the clock, or I/O.
      if (this.broker.inFlight > 0 && ++quiet < QUIET_TURNS) continue
      if (this.broker.releaseHeld()) continue
      if (!this.busy()) break
      const next = this.clock.nextAt()
      if (next === undefined || next > until) break
      this.clock.fireNext()
      quiet = 0
    }
    if (this.failures.length > 0) throw this.failures[0]
    return this.clock.now() - start
  }

  /**
   * Settles, then moves the clock by `step` and settles again until `done` holds, for work a
   * service does beside the broker, which `settle` does not wait for: an outbox relay publishing
   * after the commit, a row back after its backoff or lease, a plugin's own timer. Resolves with
   * how much virtual time went by, ms, once a last `settle` delivered what the work published;
   * rejects `TIMEOUT` with the trace once `within` of virtual time (default 10 min) has passed.
   *
   * @example
   * const orders = await h.start((o) => createStoa({ name: 'orders', ...o }).use(postgres, { dataDir: 'memory://' }))
   * await h.settleUntil(async () => (await orders.instances()[0]!.handleOf(postgres).outbox()).depth === 0)
   */
  async settleUntil(
    done: () => boolean | Promise<boolean>,
    options: { step?: number | string; within?: number | string } = {},
  ): Promise<number> {
    const start = this.clock.now()
    const step = durationMs(options.step ?? '1s')
    const until = start + durationMs(options.within ?? '10m')
    for (;;) {
      await this.settle()
      if (await done()) {
        await this.settle()
        return this.clock.now() - start
      }
      if (this.clock.now() >= until)
        throw new StoaError(
          'TIMEOUT',
          `not done after ${this.clock.now() - start} ms of virtual time:\n${this.trace()}`,
        )
      await this.advance(step)
    }
  }

  /** Whether work the harness knows of is left: deliveries, retries, requests, spawned work. */
  private busy(): boolean {
    return this.broker.inFlight > 0 || this.broker.backlog() > 0 || this.asking > 0 || this.spawned.size > 0
  }

  /** Closes every instance and stub. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled(this.restarting)
    const all = [...[...this.running.values()].flatMap((s) => s.instances()), ...this.stubs]
    if (this.client !== undefined) all.push(this.client)
    // Closing waits for in-flight work up to each instance's grace, on the virtual clock.
    const closing = Promise.allSettled(all.map((s) => s.close()))
    let done = false
    void closing.then(() => (done = true))
    while (!done) {
      await realTurn()
      if (!done && !this.clock.fireNext()) await closing
    }
  }

  /** @internal */
  track(p: Promise<unknown>): void {
    this.restarting.add(p)
    void p.finally(() => this.restarting.delete(p))
  }

  private restart(member: BrokerMember): void {
    const service = this.running.get(member.host.service)
    if (service === undefined || this.closed) return
    this.track(service.replace(member))
  }

  private async caller(): Promise<Stoa> {
    if (this.client === undefined) {
      this.client = createStoa({ name: 'test', clock: this.clock, logger: this.logger })
      this.client.client(this.transport())
      await this.client.ready()
    }
    return this.client
  }
}

/** The time limit of `harness.act`, ms, as the kernel's default. */
const DEFAULT_TIMEOUT_MS = 30_000

/** Real turns with work in hand and no step before the harness moves the clock. */
const QUIET_TURNS = 200

class RunningServiceImpl implements RunningService {
  private readonly live: { stoa: Stoa<any>; member: BrokerMember | undefined }[] = []
  starts = 0
  name = ''

  constructor(
    private readonly harness: Harness,
    private readonly make: (effect: HarnessServiceOptions['effect']) => Stoa<any>,
    private readonly calls: readonly (string | Message)[],
  ) {}

  instances(): Stoa<any>[] {
    return this.live.map((l) => l.stoa)
  }

  async spawn(): Promise<Stoa<any>> {
    const broker = this.harness.broker
    const slot: { member: BrokerMember | undefined } = { member: undefined }
    const effect = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const out = await fn()
      const member = slot.member
      if (member?.alive && broker.crashAfter(name, member.host.service)) {
        broker.crash(member)
        throw new SimulatedCrash(name)
      }
      return out
    }
    const stoa = this.make(effect)
    this.name = stoa.name
    const n = ++this.starts
    stoa.listen(simTransport(broker, (m) => (slot.member = m), `${stoa.name}#${n}`))
    stoa.client(
      simTransport(broker, () => undefined),
      this.calls,
    )
    await stoa.ready()
    this.live.push({
      stoa,
      get member() {
        return slot.member
      },
    })
    return stoa
  }

  async crash(i = 0): Promise<void> {
    const slot = this.live[i]
    if (slot?.member === undefined) throw new StoaError('NOT_FOUND', `service "${this.name}" has no instance ${i}`)
    this.harness.broker.crash(slot.member)
    await this.harness.settle(0)
  }

  /** The instance of `member` died: drop it (closing it in the background) and start another. */
  async replace(member: BrokerMember): Promise<void> {
    const i = this.live.findIndex((l) => l.member === member)
    if (i < 0) return
    const [dead] = this.live.splice(i, 1)
    void dead!.stoa.close().catch(() => undefined)
    await this.spawn()
  }
}

/** A transport on the simulated broker; `onJoin` learns the member it listens as. */
function simTransport(broker: SimBroker, onJoin: (m: BrokerMember) => void, label?: string): Transport {
  const joined: BrokerMember[] = []
  let closed = false
  return {
    name: 'memory',
    async listen(host: TransportHost) {
      const member: BrokerMember = { host, label: label ?? host.service, alive: true, inFlight: 0, pausedUntil: 0 }
      joined.push(member)
      onJoin(member)
      broker.join(member)
    },
    async client(_host, pins) {
      // An act nobody answers is named by the pins' keys, never by the rest of its data.
      const looked = pinKeys(pins)
      return {
        deliver: (e): Promise<Reply> =>
          closed
            ? Promise.resolve({ ok: false, error: { code: 'UNAVAILABLE', message: 'the transport is closed' } })
            : broker.deliver(e, looked),
      }
    },
    async close() {
      closed = true
      for (const m of joined.splice(0)) broker.leave(m)
    },
  }
}

/**
 * Starts a harness: a simulated broker, a virtual clock and seeded faults.
 *
 * @example
 * const h = createHarness({ seed: 42, faults: [{ fault: 'duplicate', kind: 'send', rate: 0.3 }] })
 */
export function createHarness(options?: HarnessOptions): Harness {
  return new Harness(options)
}

/**
 * Resolves with the `StoaError` a call rejects with when its code is `code`; rejects when the
 * call succeeds or fails otherwise, saying what happened instead.
 *
 * @example
 * await expectCode(h.act('role:orders,cmd:get', { id: 'none' }), 'NOT_FOUND')
 */
export async function expectCode(call: Promise<unknown>, code: ErrorCode): Promise<StoaError> {
  let out: unknown
  try {
    out = await call
  } catch (err) {
    if (err instanceof StoaError && err.code === code) return err
    const got = err instanceof StoaError ? `${err.code}: ${err.message}` : String(err)
    throw new Error(`expected the call to fail with ${code}, it failed with ${got}`)
  }
  throw new Error(`expected the call to fail with ${code}, it succeeded with ${JSON.stringify(out)}`)
}
