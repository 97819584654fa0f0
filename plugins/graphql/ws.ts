import type { Duplex } from 'node:stream'
import type { Message, UpgradeHandler } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import { errorResponse } from '../../actions/transport.js'

/** An event as a subscription hears it: its name and its data as emitted. */
export interface HubEvent {
  readonly name: string
  readonly data: Message
}

type Listener = (event: HubEvent) => void

/**
 * Every subscriber of one event on this instance: the plugin's subscription (every instance
 * hears every event) publishes to each.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>()

  publish(event: HubEvent): void {
    for (const l of this.listeners) l(event)
  }

  /**
   * The events from now on, as an async iterator. At most `maxQueued` wait for a slow
   * consumer; one more ends its subscription with `OVERLOADED` rather than buffer without bound.
   */
  subscribe(maxQueued: number): AsyncIterableIterator<HubEvent> {
    const queue: HubEvent[] = []
    let waiting: ((r: IteratorResult<HubEvent>) => void) | undefined
    let failed: StoaError | undefined
    let done = false
    const listener: Listener = (event) => {
      if (done) return
      if (waiting !== undefined) {
        const w = waiting
        waiting = undefined
        w({ value: event, done: false })
      } else if (queue.length >= maxQueued) {
        failed = new StoaError('OVERLOADED', `the subscriber fell ${maxQueued} events behind and was dropped`)
        this.listeners.delete(listener)
      } else queue.push(event)
    }
    this.listeners.add(listener)
    const finish = (): Promise<IteratorResult<HubEvent>> => {
      done = true
      this.listeners.delete(listener)
      queue.length = 0
      const w = waiting
      waiting = undefined
      w?.({ value: undefined, done: true })
      return Promise.resolve({ value: undefined, done: true })
    }
    const it: AsyncIterableIterator<HubEvent> = {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false })
        if (failed !== undefined) {
          const err = failed
          void finish()
          return Promise.reject(err)
        }
        if (done) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => {
          waiting = resolve
        })
      },
      return: finish,
      [Symbol.asyncIterator]: () => it,
    }
    return it
  }
}

/** What {@link mapEvents} gives for an event the subscriber does not get. */
export const SKIP: unique symbol = Symbol('skip')

/**
 * `events` as what `each` makes of them, in order: a value is sent, {@link SKIP} passes the
 * event over, a throw ends the subscription with that error. Ending the result (the client
 * went away) ends `events` at once, even while it waits for the next one.
 */
export function mapEvents(
  events: AsyncIterableIterator<HubEvent>,
  each: (event: HubEvent) => unknown,
): AsyncIterableIterator<unknown> {
  const it: AsyncIterableIterator<unknown> = {
    next: async () => {
      for (;;) {
        const r = await events.next()
        if (r.done === true) return { value: undefined, done: true }
        let value: unknown
        try {
          value = await each(r.value)
        } catch (err) {
          await events.return?.()
          throw err
        }
        if (value !== SKIP) return { value, done: false }
      }
    },
    return: async () => {
      await events.return?.()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]: () => it,
  }
  return it
}

/**
 * Whether a WebSocket upgrade or an event stream may come from its `Origin`: no `Origin` (not
 * a browser), the server's own origin, or one of `allowed`. Any other page would ride the
 * visitor's login cookie (cross-site WebSocket hijacking).
 */
export function originAllowed(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  allowed: readonly string[],
): boolean {
  const origin = headers.origin
  if (origin === undefined) return true
  if (typeof origin !== 'string') return false
  if (allowed.includes('*') || allowed.includes(origin)) return true
  try {
    return new URL(origin).host === headers.host
  } catch {
    return false
  }
}

/** The WebSockets and event streams one loading holds, against its `maxConnections`. */
export interface Connections {
  n: number
  readonly max: number
}

/** The refusal of a connection past the limit: 503 with `Retry-After`, as the web plugin's streams answer. */
export function overloaded(what: string): StoaError {
  return new StoaError('OVERLOADED', `this instance holds as many GraphQL ${what} as it takes`, {
    retryAfterMs: 1000,
  })
}

/**
 * An upgrade handler that refuses a bad origin with 403 and one past the connection limit
 * with 503, and hands the others to `accept`.
 */
export function guardedUpgrade(allowed: readonly string[], held: Connections, accept: UpgradeHandler): UpgradeHandler {
  return (req, socket: Duplex, head) => {
    socket.on('error', () => undefined)
    const refusal = !originAllowed(req.headers, allowed)
      ? new StoaError('FORBIDDEN', 'WebSocket upgrades from this origin are not allowed')
      : held.n >= held.max
        ? overloaded('connections')
        : undefined
    if (refusal !== undefined) {
      const answer = errorResponse(refusal)
      const lines = [`HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? 'Error'}`, 'connection: close']
      for (const [k, v] of Object.entries(answer.headers)) lines.push(`${k}: ${String(v)}`)
      socket.end(`${lines.join('\r\n')}\r\n\r\n${answer.body ?? ''}`)
      return
    }
    accept(req, socket, head)
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 403: 'Forbidden', 503: 'Service Unavailable' }

/**
 * `records` counted in `held` while they last: released once, when they end, fail or are
 * returned (the client went away).
 */
export function countedRecords(records: AsyncIterator<string>, held: Connections): AsyncIterator<string> {
  held.n++
  let counted = true
  const release = (): void => {
    if (counted) held.n--
    counted = false
  }
  return {
    next: async () => {
      try {
        const r = await records.next()
        if (r.done === true) release()
        return r
      } catch (err) {
        release()
        throw err
      }
    },
    return: async (value?: unknown) => {
      release()
      return (await records.return?.(value)) ?? { value: undefined, done: true }
    },
  }
}
