import { StoaError } from './errors.js'

const SEGMENT = /^[a-z][a-z0-9-]*$/
const GLOB_SEGMENT = /^(?:\*|[a-z][a-z0-9-]*\*?)$/

/**
 * Past participles that do not end in -ed. The event rule asks for a verb in the past tense;
 * regular verbs are recognised by their ending, these by name.
 */
const IRREGULAR_PAST = new Set([
  'begun',
  'bought',
  'brought',
  'built',
  'bound',
  'broken',
  'caught',
  'chosen',
  'cut',
  'dealt',
  'done',
  'drawn',
  'driven',
  'fed',
  'felt',
  'found',
  'forgotten',
  'frozen',
  'given',
  'gone',
  'got',
  'grown',
  'held',
  'hidden',
  'hit',
  'kept',
  'known',
  'laid',
  'led',
  'left',
  'lent',
  'lost',
  'made',
  'met',
  'paid',
  'put',
  'quit',
  'read',
  'reset',
  'rewritten',
  'risen',
  'run',
  'said',
  'seen',
  'sent',
  'set',
  'shown',
  'shut',
  'sold',
  'split',
  'spent',
  'spoken',
  'stolen',
  'struck',
  'stuck',
  'swept',
  'taken',
  'taught',
  'thrown',
  'told',
  'undone',
  'understood',
  'upheld',
  'withdrawn',
  'woken',
  'won',
  'written',
])

function isPastTense(verb: string): boolean {
  return verb.endsWith('ed') || IRREGULAR_PAST.has(verb)
}

/**
 * Checks an event name: `<entity>.<verb>` in lowercase kebab-case, the verb in the past tense
 * (`user.authed`, `mover.created`, `address.reconciled`). Throws `INVALID_NAME` otherwise.
 */
export function assertEventName(name: unknown): asserts name is string {
  if (validEvents.has(name as string)) return
  const parts = typeof name === 'string' ? name.split('.') : []
  if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p)) || !isPastTense(parts[1]!)) {
    const shown = showName(name)
    throw new StoaError(
      'INVALID_NAME',
      `event name ${shown} must be <entity>.<verb> with the verb in the past tense, e.g. "user.created"`,
      { name: shown },
    )
  }
  remember(validEvents, name as string)
}

/**
 * Checks an event subscription: an event name, or one with `*` standing for a whole segment
 * or ending one (`address.*`, `*.created`, `user.auth*`).
 */
export function assertEventSubscription(name: unknown): asserts name is string {
  if (typeof name === 'string' && name.includes('*')) {
    const parts = name.split('.')
    if (parts.length === 2 && parts.every((p) => GLOB_SEGMENT.test(p))) return
  }
  assertEventName(name)
}

/**
 * Checks a task name: `<service>.<entity>.<request>` in lowercase kebab-case
 * (`auth.user.authorize`). Throws `INVALID_NAME` otherwise.
 */
export function assertTaskName(name: unknown): asserts name is string {
  if (validTasks.has(name as string)) return
  const parts = typeof name === 'string' ? name.split('.') : []
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    const shown = showName(name)
    throw new StoaError(
      'INVALID_NAME',
      `task name ${shown} must be <service>.<entity>.<request>, e.g. "auth.user.authorize"`,
      { name: shown },
    )
  }
  remember(validTasks, name as string)
}

/**
 * Names already found valid. A task or event name is checked on every send, by the kernel and
 * again by the transport (a relayed message once more when written), and a service sends few
 * distinct names: a lookup costs a fraction of the split and the regular expressions (several
 * µs a call before the JIT warms up). Only valid strings go in, so a refused name is checked
 * (and refused) every time; the sets are bounded, emptied when full, against a caller making
 * up names without end.
 */
const validTasks = new Set<string>()
const validEvents = new Set<string>()
const REMEMBERED_MAX = 1024

function remember(set: Set<string>, name: string): void {
  if (set.size >= REMEMBERED_MAX) set.clear()
  set.add(name)
}

/** Longest part of a refused name an error repeats: names come from callers, maybe hostile. */
const SHOWN_MAX = 100

/**
 * A refused name as an error shows it: a string quoted and cut short, any other primitive as
 * itself, anything else by its kind alone. `String()` would call the value's own `toString`,
 * which a null-prototype object lacks (a TypeError) and a deeply nested array recurses through
 * (a RangeError): the check must not fail while saying what failed.
 */
function showName(name: unknown): string {
  if (typeof name === 'string') {
    return JSON.stringify(name.length > SHOWN_MAX ? `${name.slice(0, SHOWN_MAX)}...` : name)
  }
  if (name === null || (typeof name !== 'object' && typeof name !== 'function')) return String(name)
  return Array.isArray(name) ? 'an array' : `a ${typeof name}`
}

/** The service a task is addressed to: the first segment of its name. */
export function taskService(name: string): string {
  return name.slice(0, name.indexOf('.'))
}

/** Whether an event name matches a subscription (which may hold `*` segments). */
export function matchesSubscription(subscription: string, name: string): boolean {
  if (subscription === name) return true
  if (!subscription.includes('*')) return false
  const s = subscription.split('.')
  const n = name.split('.')
  if (s.length !== n.length) return false
  return s.every((p, i) => (p === '*' ? true : p.endsWith('*') ? n[i]!.startsWith(p.slice(0, -1)) : p === n[i]))
}
