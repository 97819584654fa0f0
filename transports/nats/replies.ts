import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node'

/** How a request ended without a reply: none in time, nobody listening, the connection closed, or not sent at all. */
export type NoReply = 'timeout' | 'no-responders' | 'closed' | 'unsent'

/** A request's outcome: the reply, or why there is none (`cause`: why it could not be sent). */
export type Answer = { ok: true; msg: Msg } | { ok: false; why: NoReply; cause?: unknown }

/** Turns a request's outcome into what its caller waits for. Never throws. */
export type Settle<T> = (answer: Answer) => T

interface Pending {
  /** When the request gives up, ms since the epoch (`Date.now`). */
  readonly deadline: number
  readonly resolve: (value: unknown) => void
  readonly settle: Settle<unknown>
}

const TIMEOUT: Answer = { ok: false, why: 'timeout' }
const NO_RESPONDERS: Answer = { ok: false, why: 'no-responders' }
const CLOSED: Answer = { ok: false, why: 'closed' }
/** The longest delay setTimeout keeps: 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * One reply subject per connection, for every request the transport makes (acts, and JetStream
 * publishes, whose acknowledgement is a reply too): one wildcard subscription on `<inbox>.*`,
 * each request answered on `<inbox>.<token>`. nats.js's own `request` makes a token, a deferred, a
 * timer object and, on every reply, an error (a stack captured) that nobody sees; here a request
 * costs a map entry, and one timer set for the earliest deadline serves them all. The server's
 * "no responders" status (503, no body) comes to the same subject, so a request to nobody ends
 * at once. nats.js resubscribes the subscription after a reconnection; when the connection
 * closes, what waits ends as `closed`.
 *
 * A token whose request was answered names a later request again: a request has one answer (one
 * instance of a queue group, one stream's acknowledgement), so no second reply comes for it, and
 * nats-server, which caches the route of each subject it saw lately, finds the few reply
 * subjects in use in its cache instead of looking up a new one for every reply (a third of the
 * server's CPU per act). A token whose request timed out is never used again: its reply may
 * still come, late, and is dropped.
 */
export class Replies {
  private readonly pending = new Map<string, Pending>()
  /** Answered tokens, free to name another request. */
  private readonly free: string[] = []
  private readonly sub: Subscription
  private readonly prefix: string
  private next = 0
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity

  constructor(
    private readonly nc: NatsConnection,
    inbox: string,
  ) {
    this.prefix = `${inbox}.`
    this.sub = nc.subscribe(`${inbox}.*`, {
      callback: (err, m) => {
        if (err !== null) return
        const token = m.subject.slice(this.prefix.length)
        const p = this.pending.get(token)
        if (p === undefined) return
        this.pending.delete(token)
        this.free.push(token)
        const status = m.data.length === 0 ? m.headers?.code : undefined
        p.resolve(p.settle(status === 503 ? NO_RESPONDERS : { ok: true, msg: m }))
      },
    })
    void this.sub.closed.then(() => this.end())
  }

  /**
   * Publishes `data` to `subject` and resolves with what `settle` makes of the first reply, or
   * of why none came by `deadline` (ms since the epoch).
   */
  request<T>(
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    deadline: number,
    settle: Settle<T>,
  ): Promise<T> {
    if (this.sub.isClosed()) return Promise.resolve(settle(CLOSED))
    const token = this.free.pop() ?? (this.next++).toString(36)
    try {
      // Only buffered here: the reply cannot come before the request is registered below.
      this.nc.publish(subject, data, { reply: this.prefix + token, headers })
    } catch (cause) {
      this.free.push(token)
      return Promise.resolve(settle({ ok: false, why: 'unsent', cause }))
    }
    return new Promise<T>((resolve) => {
      this.pending.set(token, { deadline, resolve: resolve as (value: unknown) => void, settle })
      // Negated so that a NaN deadline arms the timer too: the sweep then ends it.
      if (!(deadline >= this.timerAt)) this.arm(deadline)
    })
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    const due = Number.isNaN(at) ? -Infinity : at
    this.timerAt = due
    this.timer = setTimeout(() => this.sweep(), Math.min(MAX_TIMER_MS, Math.max(0, due - Date.now()) + 1))
    // The connection keeps the process alive while it is open; once closed, nothing waits.
    this.timer.unref()
  }

  /** Ends the requests whose deadline passed, and sets the timer for the next deadline. */
  private sweep(): void {
    this.timer = undefined
    this.timerAt = Infinity
    const now = Date.now()
    let next = Infinity
    for (const [token, p] of this.pending) {
      // Negated so that a NaN deadline counts as passed rather than as never.
      if (!(p.deadline > now)) {
        // The token is not freed: the reply may still come, and must find no request.
        this.pending.delete(token)
        p.resolve(p.settle(TIMEOUT))
      } else if (p.deadline < next) next = p.deadline
    }
    if (next !== Infinity) this.arm(next)
  }

  /** Ends every request still waiting (the connection closed). */
  private end(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    for (const [token, p] of this.pending) {
      this.pending.delete(token)
      p.resolve(p.settle(CLOSED))
    }
  }
}
