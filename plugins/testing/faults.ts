import { toPattern } from '../../actions/index.js'
import type { EnvelopeKind, Message, Pattern } from '../../actions/transport.js'
import { matchesPattern, matchesSubscription, StoaError } from '../../actions/transport.js'

/**
 * What can go wrong with one message:
 * - `drop`: a delivery is lost on its way to the handler; a task or event stays unacknowledged
 *   and the broker delivers it again after its ack wait, a request is never answered.
 * - `duplicate`: the broker delivers it twice (as after a lost acknowledgement).
 * - `delay`: the delivery waits `delayMs` of virtual time.
 * - `reorder`: the delivery waits until the next one on the bus has been handed over.
 * - `crash`: the handler runs and its effects stay, but the service dies before it
 *   acknowledges: the broker delivers the message again, to the instance restarted in its place.
 * - `lose-confirm`: the broker takes a published task or event but its confirm never reaches
 *   the sender, which is told the publish failed (`UNAVAILABLE`) and may publish it again.
 */
export type FaultKind = 'drop' | 'duplicate' | 'delay' | 'reorder' | 'crash' | 'lose-confirm'

/** Every fault kind, for a property that explores them all. */
export const FAULT_KINDS: readonly FaultKind[] = ['drop', 'duplicate', 'delay', 'reorder', 'crash', 'lose-confirm']

/**
 * Where a fault can happen: a delivery to a handler, a publish by a sender, or just after an
 * effect a service wrapped with the harness's `effect` (a commit, a charge), where it can crash.
 */
export type FaultPoint = 'deliver' | 'publish' | 'effect'

/** The faults that can happen at a point (`lose-confirm` only at a publish, `crash` only after an effect). */
export function appliesAt(fault: FaultKind, point: FaultPoint): boolean {
  if (point === 'publish') return fault === 'lose-confirm'
  if (point === 'effect') return fault === 'crash'
  return fault !== 'lose-confirm'
}

/**
 * A rule that injects a fault into the messages it selects: by message kind, task or event
 * name (`*` segments match any word), pattern (the message holds its pairs), and receiving
 * service; at a rate (drawn from the harness's seeded random, so a run replays), at most
 * `times` times.
 *
 * @example
 * const rule: FaultRule = { fault: 'crash', name: 'tally.vote.record', times: 1 }
 */
export interface FaultRule {
  readonly fault: FaultKind
  /**
   * The wrapped effect (`harness` option `effect(name, fn)`) after which to crash: a rule with
   * `effect` selects only those points, a rule without it never does.
   */
  readonly effect?: string
  readonly kind?: EnvelopeKind
  /** A task or event name; `*` segments are wildcards (`vote.*`). */
  readonly name?: string
  /** The pairs a request's message (or a task's or event's data) must hold: `'role:pay,cmd:charge'`. */
  readonly pattern?: string | Message
  /** The service receiving the delivery (not applied to publishes). */
  readonly service?: string
  /** Chance, 0 to 1, that a selected message gets the fault. Default 1. */
  readonly rate?: number
  /** How many times the rule fires at most. Default: no limit. */
  readonly times?: number
  /** For `delay`: how long, ms or a duration (`'5s'`). Default 1000 ms. */
  readonly delayMs?: number | string
}

/** A message at a fault point, as the rules see it. */
export interface FaultSubject {
  readonly point: FaultPoint
  /** The message's kind; undefined after an effect. */
  readonly kind: EnvelopeKind | undefined
  readonly name: string | undefined
  readonly msg: Message
  readonly service: string | undefined
}

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same draws, so a run
 * with random faults replays exactly from its seed.
 */
export class SeededRandom {
  private state: number

  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The rules, with how often each has fired. */
export class FaultRules {
  private readonly rules: { rule: FaultRule; pattern: Pattern | undefined; fired: number }[] = []

  constructor(private readonly random: SeededRandom) {}

  add(rule: FaultRule): void {
    if (!FAULT_KINDS.includes(rule.fault))
      throw new StoaError('INVALID_OPTIONS', `unknown fault "${String(rule.fault)}"`)
    if (rule.rate !== undefined && !(rule.rate >= 0 && rule.rate <= 1))
      throw new StoaError('INVALID_OPTIONS', `fault rate ${String(rule.rate)} is not between 0 and 1`)
    this.rules.push({
      rule,
      pattern: rule.pattern === undefined ? undefined : toPattern(rule.pattern as string),
      fired: 0,
    })
  }

  /** The first rule that selects the subject and fires now, counted as fired; else undefined. */
  pick(s: FaultSubject): FaultRule | undefined {
    for (const r of this.rules) {
      const { rule } = r
      if (!appliesAt(rule.fault, s.point)) continue
      if (rule.times !== undefined && r.fired >= rule.times) continue
      if ((rule.effect !== undefined) !== (s.point === 'effect')) continue
      if (rule.effect !== undefined && rule.effect !== s.name) continue
      if (rule.kind !== undefined && rule.kind !== s.kind) continue
      if (rule.name !== undefined && (s.name === undefined || !matchesSubscription(rule.name, s.name))) continue
      if (r.pattern !== undefined && !matchesPattern(r.pattern, s.msg)) continue
      if (rule.service !== undefined && (s.point === 'publish' || rule.service !== s.service)) continue
      // Drawn only for a selected message, so adding a rule for other messages changes no draw here.
      if (rule.rate !== undefined && rule.rate < 1 && this.random.next() >= rule.rate) continue
      r.fired++
      return rule
    }
    return undefined
  }
}
