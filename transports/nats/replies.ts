import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node'

/** How a request ended without a reply. */
export type NoReply = 'timeout' | 'no-responders' | 'closed'

/** A request's outcome: the reply, or why there is none. */
export type Answer = { ok: true; msg: Msg } | { ok: false; why: NoReply }

interface Pending {
  readonly resolve: (a: Answer) => void
  readonly timer: NodeJS.Timeout
}

/**
 * One reply subject per connection, for every request the transport makes (acts, and JetStream
 * publishes, whose acknowledgement is a reply too): one wildcard subscription on `<inbox>.*`,
 * each request answered on `<inbox>.<n>`. nats.js's own `request` makes a token, a deferred, a
 * timer object and, on every reply, an error (a stack captured) that nobody sees; here a request
 * costs a map entry and a timer. The server's "no responders" status (503, no body) comes to
 * the same subject, so a request to nobody ends at once. nats.js resubscribes the subscription
 * after a reconnection; when the connection closes, what waits ends as `closed`.
 */
export class Replies {
  private readonly pending = new Map<string, Pending>()
  private readonly sub: Subscription
  private readonly prefix: string
  private next = 0

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
        clearTimeout(p.timer)
        const status = m.data.length === 0 ? m.headers?.code : undefined
        p.resolve(status === 503 ? { ok: false, why: 'no-responders' } : { ok: true, msg: m })
      },
    })
    void this.sub.closed.then(() => this.end())
  }

  /** Publishes `data` to `subject` and resolves with the first reply, or why none came within `timeoutMs`. */
  request(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<Answer> {
    if (this.sub.isClosed()) return Promise.resolve({ ok: false, why: 'closed' })
    const token = (this.next++).toString(36)
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(token)) resolve({ ok: false, why: 'timeout' })
      }, timeoutMs)
      this.pending.set(token, { resolve, timer })
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers })
      } catch (err) {
        this.pending.delete(token)
        clearTimeout(timer)
        reject(err)
      }
    })
  }

  /** Ends every request still waiting (the connection closed). */
  private end(): void {
    for (const [token, p] of this.pending) {
      this.pending.delete(token)
      clearTimeout(p.timer)
      p.resolve({ ok: false, why: 'closed' })
    }
  }
}
