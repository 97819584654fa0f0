import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib'
import type { Clock, Logger, Reply } from '../../actions/transport.js'
import { errorReply, loadPeer, StoaError, Sweeper } from '../../actions/transport.js'
import type { AmqpObserver } from './options.js'
import type { Outgoing } from './wire.js'

/** What runs on every (re)connection, and what to undo when the connection is lost. */
export interface LinkUser {
  /** Opens channels, declares topology, starts consumers. A failure drops the connection and retries. */
  up(model: ChannelModel): Promise<void>
  /** The connection is gone: fail whatever waits on it. */
  down(error: StoaError): void
}

/** Settings of a {@link Link}. */
export interface LinkSettings {
  /** The broker's addresses: the nodes of one cluster, tried in turn. */
  readonly urls: readonly string[]
  readonly connectionName: string
  readonly reconnectMinMs: number
  readonly reconnectMaxMs: number
  readonly log: Logger
  /** Told of each reconnection and publish confirm. */
  readonly observer?: AmqpObserver | undefined
}

type State = 'idle' | 'up' | 'down' | 'closed'

/** How long one connect to one broker address may take before the next address is tried, ms. */
const CONNECT_TIMEOUT_MS = 5000

/** An address for logs: without its credentials. */
function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//')
}

/**
 * One AMQP connection that comes back: on loss it reconnects with exponential backoff and
 * jitter, then runs every user's `up` again (channels, topology, consumers). The first connect
 * fails fast with `UNAVAILABLE`, so a service started against a missing broker says so.
 */
export class Link {
  private model: ChannelModel | undefined
  private state: State = 'idle'
  private readonly users: LinkUser[] = []
  private readonly ranks: number[] = []
  private opening: Promise<void> | undefined
  private starting: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private failures = 0
  /** Why the broker blocked this connection (a memory or disk alarm), while it does. */
  private blockedBy: string | undefined
  /** Counts connections made, so a callback can tell whether its channel is the current one. */
  epoch = 0
  /** The address the next connection tries first: after a loss, the one after the lost node's. */
  private next = 0
  /** The address of the current (or last) connection. */
  private at = 0

  constructor(private readonly settings: LinkSettings) {}

  /** Whether the connection is up and every user's channels are ready. */
  get isUp(): boolean {
    return this.state === 'up'
  }

  /**
   * Whether the connection can carry work: up, and not blocked by a broker alarm (RabbitMQ
   * stops reading from publishing connections while memory or disk runs low:
   * https://www.rabbitmq.com/docs/connection-blocked).
   */
  health(): { ready: true } | { ready: false; reason: string } {
    if (this.state === 'closed') return { ready: false, reason: 'the amqp transport is closed' }
    if (this.state !== 'up') return { ready: false, reason: 'the broker connection is down' }
    if (this.blockedBy !== undefined)
      return { ready: false, reason: `the broker blocked the connection: ${this.blockedBy}` }
    return { ready: true }
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Connects once; later calls wait for the same first connection. */
  start(): Promise<void> {
    this.starting ??= this.open().then(
      () => undefined,
      (err: unknown) => {
        this.starting = undefined
        throw startupError(err, this.settings.log)
      },
    )
    return this.starting
  }

  /**
   * Adds a user at a rank: on every connection users are set up in rank order (declarations,
   * then publishing, then consumers), so buffered publishes find their queues declared. When
   * the link is already up, the user's `up` runs now on the current connection.
   */
  async add(user: LinkUser, rank: number): Promise<void> {
    // Never join halfway through a connection's setup: wait for it, then set up on the result.
    if (this.opening !== undefined) await this.opening.catch(() => undefined)
    const at = this.ranks.findIndex((r) => r > rank)
    this.users.splice(at < 0 ? this.users.length : at, 0, user)
    this.ranks.splice(at < 0 ? this.ranks.length : at, 0, rank)
    if (this.state === 'up' && this.model !== undefined) {
      try {
        await user.up(this.model)
      } catch (err) {
        this.remove(user)
        throw startupError(err, this.settings.log)
      }
    }
  }

  /** Removes a user; it is no longer set up on reconnection. */
  remove(user: LinkUser): void {
    const i = this.users.indexOf(user)
    if (i < 0) return
    this.users.splice(i, 1)
    this.ranks.splice(i, 1)
  }

  /**
   * Drops the current connection so that everything is set up again, e.g. after a channel
   * closed under a user: re-creating all channels on a fresh connection is the one recovery
   * path, and it is the one tested.
   */
  restart(reason: string): void {
    const model = this.model
    if (model === undefined || this.state !== 'up') return
    // When the whole connection drops, its channels report closing first: let the connection's
    // own close arrive, and restart only if the connection really is still up.
    setImmediate(() => {
      if (this.model !== model || this.state !== 'up') return
      this.settings.log.warn({ reason }, 'amqp: restarting the connection')
      void model.close().catch(() => undefined)
    })
  }

  /** Opens a short-lived channel for declarations, so a refused one cannot close a working channel. */
  async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    const model = this.model
    if (model === undefined || this.state !== 'up') throw unavailable('the broker connection is down')
    const ch = await model.createChannel()
    ch.on('error', () => undefined)
    try {
      return await fn(ch)
    } finally {
      await ch.close().catch(() => undefined)
    }
  }

  /** Closes the connection for good; nothing reconnects afterwards. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    if (this.timer !== undefined) clearTimeout(this.timer)
    const model = this.model
    this.model = undefined
    const err = new StoaError('CLOSED', 'the amqp transport is closed')
    for (const u of this.users) u.down(err)
    if (model !== undefined) await model.close().catch(() => undefined)
  }

  private open(): Promise<void> {
    const p = this.connect().finally(() => {
      if (this.opening === p) this.opening = undefined
    })
    this.opening = p
    return p
  }

  private async connect(): Promise<void> {
    // Loaded when the first connection opens: an application that never uses AMQP need not install amqplib.
    const amqp = await loadPeer<typeof import('amqplib')>('amqplib', 'stoa/amqp')
    const { urls } = this.settings
    let model: ChannelModel | undefined
    let failure: unknown
    // Each address in turn, from the one after the node last lost: a node that just died is
    // tried last. A connect that hangs (a node cut off, not refusing) gives up after the timeout.
    for (let i = 0; i < urls.length && model === undefined; i++) {
      const at = (this.next + i) % urls.length
      try {
        model = await amqp.connect(urls[at]!, {
          // Nagle's algorithm holds small frames back for up to 40 ms: ruinous for request/reply.
          noDelay: true,
          timeout: CONNECT_TIMEOUT_MS,
          clientProperties: { connection_name: this.settings.connectionName },
        })
        this.at = at
      } catch (err) {
        failure = err
        if (urls.length > 1)
          this.settings.log.warn({ err: describe(err), node: shownUrl(urls[at]!) }, 'amqp: broker node unreachable')
      }
    }
    if (model === undefined) throw failure
    if (this.state === 'closed') {
      await model.close().catch(() => undefined)
      throw new StoaError('CLOSED', 'the amqp transport is closed')
    }
    if (!coalesceWrites(model)) {
      this.settings.log.warn(
        {},
        'amqp: this amqplib version lacks the internals write coalescing uses; frames are written one by one',
      )
    }
    model.on('error', (err: Error) => this.settings.log.warn({ err: describe(err) }, 'amqp: connection error'))
    model.on('close', () => this.lost(model))
    model.on('blocked', (reason: string) => {
      if (this.model === model) this.blockedBy = typeof reason === 'string' && reason !== '' ? reason : 'resource alarm'
      this.settings.log.warn({ reason }, 'amqp: the broker blocked publishing')
    })
    model.on('unblocked', () => {
      if (this.model === model) this.blockedBy = undefined
      this.settings.log.warn({}, 'amqp: the broker unblocked publishing')
    })
    this.blockedBy = undefined
    this.model = model
    this.epoch++
    try {
      for (const u of [...this.users]) await u.up(model)
    } catch (err) {
      this.model = undefined
      await model.close().catch(() => undefined)
      throw err
    }
    if (this.state === 'down') {
      this.settings.observer?.reconnected?.()
      this.settings.log.warn({ node: shownUrl(urls[this.at]!) }, 'amqp: reconnected to a broker node')
    }
    this.state = 'up'
    this.failures = 0
  }

  private lost(model: ChannelModel): void {
    if (this.model !== model) return
    this.model = undefined
    this.next = (this.at + 1) % this.settings.urls.length
    if (this.state === 'closed') return
    this.state = 'down'
    this.settings.log.warn({}, 'amqp: connection lost; reconnecting')
    const err = unavailable('the broker connection was lost')
    for (const u of this.users) u.down(err)
    this.schedule()
  }

  private schedule(): void {
    if (this.state === 'closed') return
    const { reconnectMinMs, reconnectMaxMs } = this.settings
    const base = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(this.failures, 20))
    // Jitter spreads the reconnects of many instances after a broker restart.
    const delay = base * (0.8 + Math.random() * 0.4)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.open().catch((err: unknown) => {
        this.failures++
        this.settings.log.warn({ err: describe(err), failures: this.failures }, 'amqp: reconnect failed')
        this.state = this.state === 'closed' ? 'closed' : 'down'
        this.schedule()
      })
    }, delay)
  }
}

/** A publish waiting for its turn or for the broker's confirm. */
interface Job {
  readonly exchange: string
  readonly key: string
  readonly out: Outgoing
  /** Until when it may wait for the broker: in the buffer, then for its confirm. */
  readonly until: number
  readonly resolve: () => void
  readonly reject: (err: StoaError) => void
  settled: boolean
  /** The channel it was written on, once written. */
  ch?: ConfirmChannel
}

/**
 * How long a publish channel serves before a refused publish replaces it, ms. RabbitMQ keeps,
 * per channel, its view of each quorum queue the channel publishes to, taken from the queue's
 * record at the channel's first publish there. When that record still names a leader on a node
 * that just died (the election, or its record update, not done yet), 3.10 refuses that publish
 * and every later one of the channel to that queue, for as long as the channel lives, while a
 * channel opened once the record names the new leader publishes normally. So a refusal replaces
 * the channel, at most once a second: a stale view lasts a second past the election, and a queue
 * that really refuses (no majority) costs a channel a second.
 */
const RENEW_AFTER_MS = 1000

/**
 * Publishes on a confirm channel: each publish resolves when the broker confirms it and
 * rejects on a nack, a return (for mandatory publishes) or a lost channel. When the socket's
 * buffer is full (`publish` returns false) it waits for `drain` before writing more. While
 * the connection is down, publishes wait in a bounded buffer until it is back or until their
 * deadline; beyond the bound they fail with `UNAVAILABLE` at once. After a nack, publishes go
 * to a new channel ({@link RENEW_AFTER_MS}); the old one is closed once its confirms are in.
 */
export class Publisher implements LinkUser {
  private ch: ConfirmChannel | undefined
  private model: ChannelModel | undefined
  /** When the current channel was opened (Date.now()). */
  private openedAt = 0
  /** Whether a replacement of the current channel is scheduled or being opened. */
  private renewing = false
  /** Channels replaced after a refusal, closed once their publishes in flight are settled. */
  private readonly retiring = new Set<ConfirmChannel>()
  private blocked = false
  private readonly queue: Job[] = []
  private readonly inflight = new Set<Job>()
  private readonly returned = new Set<string>()
  /**
   * While publishes wait, fail the ones whose time is up: a caller must not wait forever, neither
   * in the buffer nor for a confirm that a black-holed connection never brings. A late confirm
   * finds its job settled and changes nothing, so a failed publish never turns into a success.
   */
  private readonly sweeper: Sweeper

  /** @param clock the instance's: a publish's `until` is a time of it, and its sweep runs on it. */
  constructor(
    private readonly link: Link,
    private readonly bufferSize: number,
    private readonly log: Logger,
    clock: Clock,
    private readonly observer?: AmqpObserver,
  ) {
    this.sweeper = new Sweeper(50, (now) => this.expire(now), clock)
  }

  private expire(now: number): boolean {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const job = this.queue[i]!
      if (job.until <= now) {
        this.queue.splice(i, 1)
        settle(job, unavailable('the broker stayed unreachable until the deadline'))
      }
    }
    for (const job of this.inflight) {
      if (job.until > now) continue
      this.inflight.delete(job)
      settle(job, unavailable('the broker did not confirm the publish in time: it may or may not be queued'))
    }
    this.reap()
    return this.queue.length > 0 || this.inflight.size > 0 || this.retiring.size > 0
  }

  async up(model: ChannelModel): Promise<void> {
    const ch = await this.open(model)
    this.model = model
    this.attach(ch)
  }

  down(error: StoaError): void {
    this.model = undefined
    this.detach(error)
    if (error.code === 'CLOSED') for (const job of this.queue.splice(0)) settle(job, error)
  }

  /**
   * Publishes and resolves once the broker confirmed. `buffer: false` fails at once while the
   * connection is down rather than waiting (for copies whose original is still unacknowledged).
   */
  publish(exchange: string, key: string, out: Outgoing, until: number, buffer = true): Promise<void> {
    if (this.link.isClosed) return Promise.reject(closedError())
    return new Promise<void>((resolve, reject) =>
      this.take({ exchange, key, out, until, resolve, reject, settled: false }, buffer),
    )
  }

  /**
   * Publishes as `publish` does, and resolves with the sender's reply (`ok` once confirmed, the
   * error otherwise) rather than rejecting: the path of every task and event sent, one promise
   * and one turn of the microtask queue shorter than mapping `publish`'s outcome.
   */
  confirm(exchange: string, key: string, out: Outgoing, until: number): Promise<Reply> {
    if (this.link.isClosed) return Promise.resolve(errorReply(closedError()))
    return new Promise<Reply>((resolve) =>
      this.take(
        {
          exchange,
          key,
          out,
          until,
          resolve: () => resolve(CONFIRMED),
          reject: (err) => resolve(errorReply(err)),
          settled: false,
        },
        true,
      ),
    )
  }

  /** Writes a job now, or buffers it while the channel is away or the socket full, or refuses it. */
  private take(job: Job, buffer: boolean): void {
    if (this.ch !== undefined && !this.blocked && this.queue.length === 0) this.write(job)
    else if (this.ch === undefined && !buffer) job.reject(unavailable('the broker connection is down'))
    else if (this.queue.length >= this.bufferSize) {
      job.reject(
        this.ch === undefined
          ? unavailable(`the broker is unreachable and ${this.bufferSize} publishes already wait`)
          : new StoaError('OVERLOADED', `${this.bufferSize} publishes already wait for the socket to drain`),
      )
    } else {
      this.queue.push(job)
      this.sweeper.arm()
    }
  }

  /** Resolves once every publish made so far is confirmed or failed. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0 || (this.queue.length > 0 && this.ch !== undefined)) {
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  private write(job: Job): void {
    const ch = this.ch!
    this.inflight.add(job)
    this.sweeper.arm()
    const id = job.out.props.messageId
    const observer = this.observer
    const sent = observer?.confirmed === undefined ? 0 : performance.now()
    let ok: boolean
    job.ch = ch
    try {
      ok = ch.publish(job.exchange, job.key, job.out.body, job.out.props, (err: unknown) => {
        this.inflight.delete(job)
        observer?.confirmed?.(performance.now() - sent, err == null)
        if (id !== undefined && this.returned.delete(id)) {
          return settle(
            job,
            new StoaError('UNAVAILABLE', `nothing receives "${job.key}": its queue does not exist`, {
              unroutable: job.key,
            }),
          )
        }
        if (err != null) {
          this.renew(ch)
          return settle(job, unavailable('the broker did not confirm the publish'))
        }
        settle(job)
      })
    } catch (err) {
      this.inflight.delete(job)
      settle(job, err instanceof StoaError ? err : unavailable(`publish failed: ${describe(err)}`))
      return
    }
    if (!ok) this.blocked = true
  }

  private flush(): void {
    while (this.ch !== undefined && !this.blocked && this.queue.length > 0) this.write(this.queue.shift()!)
  }

  /** Opens a publish channel on `model`: confirms on, returns and drains watched. */
  private async open(model: ChannelModel): Promise<ConfirmChannel> {
    const ch = await openChannel(model.createConfirmChannel(), this.link, this.log, 'publish', (closed) => {
      // A replaced channel's close fails its own unconfirmed publishes only (amqplib calls back).
      if (this.ch !== closed) return false
      this.detach(unavailable('the publish channel closed before the broker confirmed'))
      return true
    })
    // A mandatory publish nobody can receive comes back (basic.return) before its confirm.
    ch.on('return', (m: { properties: { messageId?: string } }) => {
      if (m.properties.messageId !== undefined) this.returned.add(m.properties.messageId)
    })
    ch.on('drain', () => {
      if (this.ch !== ch) return
      this.blocked = false
      this.flush()
    })
    return ch
  }

  /** Makes `ch` the channel publishes go to, and sends what waits. */
  private attach(ch: ConfirmChannel): void {
    this.ch = ch
    this.openedAt = Date.now()
    this.blocked = false
    this.flush()
  }

  /**
   * The broker refused a publish on `from`: publishes go to a new channel from
   * {@link RENEW_AFTER_MS} after `from` was opened (at once when it is older).
   */
  private renew(from: ConfirmChannel): void {
    if (this.ch !== from || this.renewing) return
    this.renewing = true
    const replace = async () => {
      const model = this.model
      try {
        if (model === undefined || this.ch !== from) return
        const fresh = await this.open(model)
        if (this.model !== model || this.ch !== from) {
          await fresh.close().catch(() => undefined)
          return
        }
        this.log.warn({}, 'amqp: the broker refused a publish; publishing on a new channel')
        this.retiring.add(from)
        this.sweeper.arm()
        this.attach(fresh)
      } catch {
        // No channel to be had: the connection is going, and its loss sets everything up again.
      } finally {
        this.renewing = false
      }
    }
    setTimeout(() => void replace(), Math.max(0, this.openedAt + RENEW_AFTER_MS - Date.now())).unref()
  }

  /** Closes each replaced channel none of whose publishes still waits for its confirm. */
  private reap(): void {
    if (this.retiring.size === 0) return
    const busy = new Set<ConfirmChannel | undefined>()
    for (const job of this.inflight) busy.add(job.ch)
    for (const ch of this.retiring) {
      if (busy.has(ch)) continue
      this.retiring.delete(ch)
      void ch.close().catch(() => undefined)
    }
  }

  private detach(error: StoaError): void {
    this.ch = undefined
    this.blocked = false
    // Replaced channels go with the connection; a lost channel alone restarts the connection.
    this.retiring.clear()
    this.returned.clear()
    for (const job of this.inflight) settle(job, error)
    this.inflight.clear()
  }
}

/** What `confirm` resolves with once the broker confirmed. */
const CONFIRMED: Reply = { ok: true, out: undefined }

function closedError(): StoaError {
  return new StoaError('CLOSED', 'the amqp transport is closed')
}

function settle(job: Job, err?: StoaError): void {
  if (job.settled) return
  job.settled = true
  if (err === undefined) job.resolve()
  else job.reject(err)
}

/**
 * Sends the frames that are ready together. amqplib's multiplexer writes each frame to the
 * socket on its own, and with `noDelay` each write is a system call and a TCP segment: under
 * load that per-frame cost, not the encoding, bounds a client. Corking the socket while the
 * multiplexer drains its channel buffers turns one pass (publishes, acks, replies) into a single
 * `writev`, without delaying anything: the socket is uncorked before control returns. It relies
 * on amqplib internals (`connection.stream`, `connection.muxer`), so it applies only when
 * they are there, and otherwise amqplib writes as it always does. Returns whether it applied.
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const c = (model as unknown as { connection?: { stream?: unknown; muxer?: { _readIncoming?: unknown } } }).connection
  const socket = c?.stream as { cork?: () => void; uncork?: () => void } | undefined
  const mux = c?.muxer
  if (
    mux === undefined ||
    typeof mux._readIncoming !== 'function' ||
    typeof socket?.cork !== 'function' ||
    typeof socket.uncork !== 'function'
  )
    return false
  const drain = (mux._readIncoming as () => void).bind(mux)
  mux._readIncoming = () => {
    socket.cork!()
    try {
      drain()
    } finally {
      socket.uncork!()
    }
  }
  return true
}

/** The error a failed start rejects with: a stable code, the library's text only in the log. */
function startupError(err: unknown, log: Logger): StoaError {
  if (err instanceof StoaError) return err
  log.error({ err: describe(err) }, 'amqp: cannot start')
  // 406 PRECONDITION_FAILED: a queue or exchange exists with other arguments, typically a
  // task queue declared classic by one instance and quorum by another.
  if ((err as { code?: unknown }).code === 406) {
    return new StoaError(
      'INVALID_OPTIONS',
      'amqp transport: a queue or exchange already exists with other settings (check that every instance uses the same "queueType")',
      { transport: 'amqp' },
      { cause: err },
    )
  }
  return unavailable('cannot connect to the message broker', err)
}

/** An `UNAVAILABLE` error; the library's own message stays in the local cause. */
/**
 * Opens one of the long-lived channels (requests, publishes, consumers): its errors are logged
 * as `amqp: <what> channel error`, and when it closes `lost(ch)` runs; if that says the loss
 * matters (the channel is still the current one, nobody is stopping), the link restarts so
 * every user gets a fresh channel.
 */
export async function openChannel<C extends Channel>(
  open: Promise<C>,
  link: Link,
  log: Logger,
  what: string,
  lost: (ch: C) => boolean,
): Promise<C> {
  const ch = await open
  ch.on('error', (err: Error) => log.warn({ err: describe(err) }, `amqp: ${what} channel error`))
  ch.on('close', () => {
    if (lost(ch)) link.restart(`${what} channel closed`)
  })
  return ch
}

export function unavailable(message: string, cause?: unknown): StoaError {
  return new StoaError('UNAVAILABLE', message, undefined, cause === undefined ? undefined : { cause })
}

/** A short description of a library error for logs, never for callers. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
