import type {
  Envelope,
  EnvelopeKind,
  Message,
  Reply,
  RetryPolicy,
  StoaErrorJSON,
  TransportHost,
} from '../../actions/transport.js'
import {
  assertTaskName,
  backoffDelays,
  decideRetry,
  describeMessage,
  errorReply,
  matchesSubscription,
  StoaError,
  taskService,
} from '../../actions/transport.js'
import type { VirtualClock } from './clock.js'
import { durationMs } from './clock.js'
import type { FaultKind, FaultPoint, FaultRules, FaultSubject } from './faults.js'
import { appliesAt } from './faults.js'

/** How the simulated broker treats tasks and events: the rules of the amqp and nats transports. */
export interface BrokerPolicy {
  /** Tries of a task or event before it is dead-lettered (1: no retry). Default 5. */
  readonly attempts: number
  /** Delay before the first retry, ms; each further one waits twice as long. Default 1000. */
  readonly backoffMs: number
  /** Longest delay between two tries, ms. Default 60 000. */
  readonly maxBackoffMs: number
  /** How long an unacknowledged delivery that was lost waits before it is delivered again, ms. Default 30 000. */
  readonly ackWaitMs: number
  /** Unacknowledged deliveries one instance holds at once. Default 10. */
  readonly prefetch: number
}

export const DEFAULT_POLICY: BrokerPolicy = {
  attempts: 5,
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  ackWaitMs: 30_000,
  prefetch: 10,
}

/**
 * Faults chosen beyond the rules, one per fault point in the order the points are reached:
 * what the property runner generates and shrinks. Undefined: no fault here.
 */
export type FaultChooser = (point: FaultPoint, subject: FaultSubject) => FaultKind | undefined

/** A message the broker accepted: a task, or an event, as published. */
export interface Published {
  readonly kind: 'send' | 'emit'
  readonly name: string
  readonly data: Message
  /** The sending service (`meta.caller`). */
  readonly from: string | undefined
  /** Whether its confirm was lost (the sender was told it failed). */
  readonly confirmLost: boolean
}

/** A task or event the broker gave up on, with why. */
export interface DeadLetter {
  readonly service: string
  readonly kind: 'send' | 'emit'
  readonly name: string
  readonly data: Message
  readonly error: StoaErrorJSON
  readonly attempts: number
}

/** One instance of a service on the broker. */
export interface BrokerMember {
  readonly host: TransportHost
  /** `tally#2`: the service's name and the instance's number. */
  readonly label: string
  alive: boolean
  inFlight: number
  pausedUntil: number
}

/** A fault chosen for a point, with the length of a delay. */
interface Chosen {
  readonly fault: FaultKind
  readonly delayMs: number
}

/** How long a `delay` waits when its rule says nothing, ms. */
const DEFAULT_DELAY_MS = 1000

interface Queued {
  readonly seq: number
  readonly service: string
  readonly env: Envelope
  /** Tries that ended in a failure (a retry counts, a redelivery after a loss does not). */
  failures: number
  /** The time each try gets, counted from its delivery, as the wire's `x-stoa-timeout-ms`. */
  readonly budgetMs: number | undefined
}

/**
 * An in-process broker with the semantics of the real ones, for tests: a task goes to one
 * instance of its service, an event to one instance of every subscribing service; both wait in
 * a per-service queue until an instance acknowledges them (its handler resolved), are retried
 * with backoff after a failure the error table calls retryable, dead-lettered otherwise or after
 * the last try, and given back without counting a try when the instance is closing or a
 * bulkhead refused them. Every delivery and publish passes the fault rules and the fault
 * chooser, and, when a gate is set (the property runner's scheduler), waits for its turn.
 */
export class SimBroker {
  readonly published: Published[] = []
  readonly deadLetters: DeadLetter[] = []
  /** Each step, as a line: what was published, delivered, faulted, acknowledged, retried. */
  readonly trace: string[] = []
  /** Deliveries handed to a handler and not yet answered. */
  inFlight = 0
  /** Tasks and events waiting on the clock: a retry's backoff. */
  private waiting = 0
  /** Grows at each step; the harness reads it to tell an idle bus from a busy one. */
  progress = 0
  gate: ((label: string) => Promise<void>) | undefined
  chooser: FaultChooser | undefined
  onCrash: ((member: BrokerMember) => void) | undefined

  private readonly members = new Map<string, BrokerMember[]>()
  private readonly queues = new Map<string, Queued[]>()
  private readonly unacked = new Map<BrokerMember, Set<Queued>>()
  private readonly tasks = new Map<string, Set<string>>()
  private readonly subscriptions = new Map<string, Set<string>>()
  private readonly turn = new Map<string, number>()
  private readonly held: (() => void)[] = []
  private seq = 0
  private readonly start: number
  private readonly retry: RetryPolicy

  constructor(
    readonly clock: VirtualClock,
    readonly rules: FaultRules,
    readonly policy: BrokerPolicy = DEFAULT_POLICY,
  ) {
    this.start = clock.now()
    this.retry = {
      attempts: policy.attempts,
      delays: backoffDelays(policy.attempts, policy.backoffMs, policy.maxBackoffMs),
    }
  }

  /** Declares a service's queue, so work sent while none of its instances runs waits for one. */
  declare(service: string): void {
    if (!this.queues.has(service)) this.queues.set(service, [])
  }

  join(member: BrokerMember): void {
    const service = member.host.service
    this.declare(service)
    const list = this.members.get(service) ?? []
    list.push(member)
    this.members.set(service, list)
    // Bindings outlive the instance, as durable queues' do.
    const tasks = this.tasks.get(service) ?? new Set()
    for (const t of member.host.tasks()) tasks.add(t)
    this.tasks.set(service, tasks)
    const subs = this.subscriptions.get(service) ?? new Set()
    for (const s of member.host.subscriptions()) subs.add(s)
    this.subscriptions.set(service, subs)
    this.note(`${member.label} joined`)
    this.pump(service)
  }

  leave(member: BrokerMember): void {
    const list = this.members.get(member.host.service)
    const i = list?.indexOf(member) ?? -1
    if (i >= 0) list!.splice(i, 1)
    member.alive = false
    this.requeue(member)
  }

  /** The member died: whatever it held unacknowledged goes back to its queue, and the harness restarts it. */
  crash(member: BrokerMember): void {
    if (!member.alive) return
    this.note(`${member.label} crashed`)
    this.leave(member)
    this.onCrash?.(member)
  }

  /** A client's envelope: a request answered by one instance, or a task or event published. */
  deliver(e: Envelope, looked: Iterable<string> = []): Promise<Reply> {
    this.progress++
    if (e.kind === 'act') return this.request(e, looked)
    const name = e.name ?? ''
    let targets: string[]
    if (e.kind === 'send') {
      try {
        assertTaskName(name)
      } catch (err) {
        return Promise.resolve(errorReply(err))
      }
      const service = taskService(name)
      if (!this.queues.has(service))
        return Promise.resolve(notFound(`no service "${service}" on the broker handles task "${name}"`))
      targets = [service]
    } else {
      targets = [...this.subscriptions]
        .filter(([, subs]) => [...subs].some((s) => matchesSubscription(s, name)))
        .map(([s]) => s)
    }
    const chosen = this.choose('publish', { point: 'publish', kind: e.kind, name, msg: e.msg, service: undefined })
    const confirmLost = chosen?.fault === 'lose-confirm'
    this.published.push({ kind: e.kind, name, data: copy(e.msg), from: e.meta.caller, confirmLost })
    this.note(
      `${e.meta.caller ?? '?'} ${e.kind === 'send' ? 'sent' : 'emitted'} ${name}${confirmLost ? ' [confirm lost]' : ''}`,
    )
    for (const service of targets) {
      const budgetMs = e.meta.deadline === undefined ? undefined : Math.max(1, e.meta.deadline - this.clock.now())
      this.queues.get(service)!.push({ seq: this.seq++, service, env: clone(e), failures: 0, budgetMs })
      this.pump(service)
    }
    if (e.kind === 'emit') this.toInstances(e, name)
    if (confirmLost) return Promise.resolve(errorReply(new StoaError('UNAVAILABLE', `the confirm of ${name} was lost`)))
    return Promise.resolve({ ok: true, out: undefined })
  }

  /** Names of the services with a queue. */
  services(): string[] {
    return [...this.queues.keys()]
  }

  /** Tasks and events waiting or unacknowledged, per service and all together. */
  backlog(service?: string): number {
    let n = service === undefined ? this.waiting + this.held.length : 0
    for (const [s, q] of this.queues) if (service === undefined || s === service) n += q.length
    for (const [m, set] of this.unacked) if (service === undefined || m.host.service === service) n += set.size
    return n
  }

  /** Lets every delivery held by `reorder` go. */
  releaseHeld(): boolean {
    if (this.held.length === 0) return false
    for (const go of this.held.splice(0)) go()
    return true
  }

  private async request(e: Envelope, looked: Iterable<string>): Promise<Reply> {
    const candidates = [...this.members.values()].flatMap((list) => list.filter((m) => m.host.answers(e.msg)))
    const member = this.pick(candidates, 'act')
    const shown = describeMessage(e.msg, looked)
    if (member === undefined)
      return notFound(`no service on the broker answers ${shown === '' ? 'this act' : `"${shown}"`}`)
    const what = `act ${shown === '' ? '(unnamed)' : shown}`
    const chosen = this.choose('deliver', {
      point: 'deliver',
      kind: 'act',
      name: undefined,
      msg: e.msg,
      service: member.host.service,
    })
    const fault = chosen?.fault
    if (fault === 'drop') {
      this.note(`${what} to ${member.label} [dropped]: never answered`)
      return new Promise<Reply>(() => undefined)
    }
    await this.wait(chosen, what, member)
    if (this.gate !== undefined) await this.gate(`${what} to ${member.label}`)
    if (!member.alive) return new Promise<Reply>(() => undefined)
    this.note(`${what} to ${member.label}${fault === undefined ? '' : ` [${fault}]`}`)
    const run = () => this.dispatch(member, e)
    if (fault === 'duplicate') void run()
    const reply = await run()
    if (!member.alive) return new Promise<Reply>(() => undefined)
    if (fault === 'crash') {
      this.crash(member)
      return new Promise<Reply>(() => undefined)
    }
    return reply
  }

  /** Hands ready work to instances with room, round robin. */
  private pump(service: string): void {
    const queue = this.queues.get(service)
    if (queue === undefined) return
    while (queue.length > 0) {
      const now = this.clock.now()
      const free = (this.members.get(service) ?? []).filter(
        (m) => m.alive && !m.host.closing && m.inFlight < this.policy.prefetch && m.pausedUntil <= now,
      )
      const member = this.pick(free, service)
      if (member === undefined) return
      const q = queue.shift()!
      member.inFlight++
      let set = this.unacked.get(member)
      if (set === undefined) this.unacked.set(member, (set = new Set()))
      set.add(q)
      void this.attempt(member, q)
    }
  }

  private async attempt(member: BrokerMember, q: Queued): Promise<void> {
    const name = q.env.name!
    const what = `${q.env.kind === 'send' ? 'task' : 'event'} ${name}#${q.seq}`
    const chosen = this.choose('deliver', {
      point: 'deliver',
      kind: q.env.kind,
      name,
      msg: q.env.msg,
      service: q.service,
    })
    const fault = chosen?.fault
    if (fault === 'drop') {
      this.note(`${what} to ${member.label} [dropped]: redelivered after the ack wait`)
      this.clock.setTimer(() => this.giveBack(member, q, 'ack wait over'), this.policy.ackWaitMs)
      return
    }
    if (fault === 'duplicate') this.queues.get(q.service)!.unshift({ ...q, seq: this.seq++ })
    await this.wait(chosen, what, member)
    if (this.gate !== undefined) await this.gate(`${what} to ${member.label}`)
    if (!this.holds(member, q)) return
    this.note(`${what} to ${member.label}${fault === undefined ? '' : ` [${fault}]`}`)
    const deadline = q.budgetMs === undefined ? undefined : this.clock.now() + q.budgetMs
    const reply = await this.dispatch(member, { ...q.env, meta: { ...q.env.meta, deadline } })
    if (!this.holds(member, q)) return
    if (fault === 'crash') return this.crash(member)
    this.settle(member, q, reply)
  }

  private settle(member: BrokerMember, q: Queued, reply: Reply): void {
    const name = q.env.name!
    const what = `${q.env.kind === 'send' ? 'task' : 'event'} ${name}#${q.seq}`
    if (reply.ok) {
      this.done(member, q)
      this.note(`${what} acked by ${member.label}`)
    } else if (reply.error.code === 'CLOSED' && member.host.closing) {
      this.giveBack(member, q, 'instance closing')
    } else if (reply.error.code === 'OVERLOADED' && typeof reply.error.details?.bulkhead === 'string') {
      // The bulkhead contract: back to the queue, not counted as a try; the instance rests.
      const rest = Number(reply.error.details.retryAfterMs ?? 0)
      member.pausedUntil = this.clock.now() + rest
      this.clock.setTimer(() => this.pump(q.service), rest)
      this.giveBack(member, q, `bulkhead ${reply.error.details.bulkhead} full`)
    } else {
      this.done(member, q)
      q.failures++
      // The amqp and nats transports' own rule, its backoff waited out on the virtual clock.
      const outcome = decideRetry(reply.error, q.failures, this.retry)
      if (outcome.do === 'retry') {
        const delay = outcome.delayMs
        this.note(`${what} failed at ${member.label} (${reply.error.code}): try ${q.failures + 1} in ${delay} ms`)
        this.waiting++
        this.clock.setTimer(() => {
          this.waiting--
          this.queues.get(q.service)!.push(q)
          this.pump(q.service)
        }, delay)
      } else {
        this.note(`${what} dead-lettered after ${q.failures} tries: ${reply.error.code}`)
        this.deadLetters.push({
          service: q.service,
          kind: q.env.kind as 'send' | 'emit',
          name,
          data: copy(q.env.msg),
          error: reply.error,
          attempts: q.failures,
        })
      }
    }
    this.pump(q.service)
  }

  /**
   * An event to every live instance subscribed with `{ each: 'instance' }`: at most once, as on
   * a broker (no queue, no retry, no dead letter; an instance that is down misses it).
   */
  private toInstances(e: Envelope, name: string): void {
    for (const list of this.members.values())
      for (const member of list) {
        if (!member.alive || !member.host.instanceSubscriptions().some((s) => matchesSubscription(s, name))) continue
        this.note(`${name} to ${member.label} (every instance)`)
        void this.dispatch(member, { ...e, each: 'instance' }).then((reply) => {
          if (!reply.ok) this.note(`${name} at ${member.label} failed: ${reply.error.code} (at most once: not retried)`)
        })
      }
  }

  private async dispatch(member: BrokerMember, e: Envelope): Promise<Reply> {
    this.inFlight++
    try {
      return await member.host.dispatch(clone(e))
    } finally {
      this.inFlight--
      this.progress++
    }
  }

  /** Waits out a `delay` or a `reorder` before a delivery. */
  private async wait(chosen: Chosen | undefined, what: string, member: BrokerMember): Promise<void> {
    const fault = chosen?.fault
    if (fault === 'delay') {
      const ms = chosen!.delayMs
      this.note(`${what} to ${member.label} delayed ${ms} ms`)
      await new Promise<void>((resolve) => this.clock.setTimer(resolve, ms))
    } else if (fault === 'reorder') {
      this.note(`${what} to ${member.label} held until the next delivery`)
      await new Promise<void>((resolve) => this.held.push(resolve))
    } else if (this.held.length > 0) this.releaseHeld()
  }

  /** Whether to crash `service` just after its effect `name`. */
  crashAfter(name: string, service: string): boolean {
    const crash = this.choose('effect', { point: 'effect', kind: undefined, name, msg: {}, service })?.fault === 'crash'
    if (crash) this.note(`${service} crashes after the effect ${name}`)
    return crash
  }

  /** The fault at a point: the first rule that fires, else the chooser's; `delayMs` for a delay. */
  private choose(point: FaultPoint, subject: FaultSubject): Chosen | undefined {
    const rule = this.rules.pick(subject)
    if (rule !== undefined) return { fault: rule.fault, delayMs: durationMs(rule.delayMs ?? DEFAULT_DELAY_MS) }
    const chosen = this.chooser?.(point, subject)
    return chosen !== undefined && appliesAt(chosen, point) ? { fault: chosen, delayMs: DEFAULT_DELAY_MS } : undefined
  }

  /** Whether the member still holds the delivery (it did not crash, nor leave, meanwhile). */
  private holds(member: BrokerMember, q: Queued): boolean {
    return member.alive && (this.unacked.get(member)?.has(q) ?? false)
  }

  private done(member: BrokerMember, q: Queued): void {
    if (this.unacked.get(member)?.delete(q) === true) member.inFlight--
  }

  private giveBack(member: BrokerMember, q: Queued, why: string): void {
    if (this.unacked.get(member)?.has(q) !== true) return
    this.done(member, q)
    this.note(`${q.env.name}#${q.seq} back to its queue: ${why}`)
    this.queues.get(q.service)!.unshift(q)
    this.pump(q.service)
  }

  private requeue(member: BrokerMember): void {
    const set = this.unacked.get(member)
    if (set === undefined) return
    this.unacked.delete(member)
    const back = [...set].sort((a, b) => a.seq - b.seq)
    member.inFlight = 0
    for (const q of back.reverse()) this.queues.get(q.service)!.unshift(q)
    for (const s of new Set(back.map((q) => q.service))) this.pump(s)
  }

  private pick(list: BrokerMember[], key: string): BrokerMember | undefined {
    if (list.length === 0) return undefined
    const n = this.turn.get(key) ?? 0
    this.turn.set(key, n + 1)
    return list[n % list.length]
  }

  private note(line: string): void {
    this.progress++
    this.trace.push(`${String(this.clock.now() - this.start).padStart(7)} ms  ${line}`)
  }
}

/** Copies a message as a wire would: exactly what JSON carries. */
function copy(msg: Message): Message {
  return JSON.parse(JSON.stringify(msg)) as Message
}

function clone(e: Envelope): Envelope {
  const out: Envelope = { kind: e.kind as EnvelopeKind, name: e.name, msg: copy(e.msg), meta: { ...e.meta } }
  // An edge's request headers are for the service they reached, never forwarded further.
  delete out.meta.headers
  if (e.each !== undefined) out.each = e.each
  return out
}

function notFound(message: string): Reply {
  return errorReply(new StoaError('NOT_FOUND', message))
}
