import { randomUUID } from 'node:crypto'
import type { CallOptions, Logger, Message, PluginHost, Timer } from '../../actions/index.js'
import type { Database } from './db.js'
import { quoteLiteral } from './db.js'

/** The channel a commit that wrote outbox rows notifies, when its own relay does not publish them. */
export const OUTBOX_CHANNEL = 'stoa_outbox'

/** What travels with a message as a direct send would carry it. */
export interface OutboxMeta {
  readonly trace: string
  /** Absolute deadline, ms since the epoch; absent: the instance's default when relayed. */
  readonly deadline?: number
  readonly token?: string
  readonly caller?: string
}

/** One message waiting in the outbox. */
export interface OutboxRow {
  readonly id: string
  readonly kind: 'send' | 'emit'
  readonly name: string
  readonly data: Message
  readonly meta: OutboxMeta
}

/**
 * A message as one row of `INSERT INTO stoa_outbox (id, kind, name, data, meta, available_at)
 * VALUES …`, its values quoted, so that a transaction's messages go in one statement beside its
 * `COMMIT`; available from `nowMs`, the instance's clock.
 */
export function outboxValues(row: OutboxRow, nowMs: number): string {
  return `(${quoteLiteral(row.id)}, '${row.kind}', ${quoteLiteral(row.name)}, ${quoteLiteral(JSON.stringify(row.data))}, ${quoteLiteral(JSON.stringify(row.meta))}, ${at(nowMs)})`
}

/**
 * A time of the instance's clock as SQL. The relay's leases and backoffs count on the
 * instance's clock rather than the database's `now()`, so that under a virtual clock
 * (`stoa/testing`) a row comes back when the test moves time; instances' clocks are kept in
 * step (NTP) to well within a lease.
 */
function at(ms: number): string {
  return `to_timestamp(${Math.floor(ms)} / 1000.0)`
}

interface ClaimedRow extends Record<string, unknown> {
  seq: string
  id: string
  kind: 'send' | 'emit'
  name: string
  data: Message
  meta: OutboxMeta
  attempts: number
}

/** Passes a relay runs side by side on a backlog. */
const LANES = 4

/** A pass's batch after publishing: the seqs published, and those failed with their backoff. */
interface Settled {
  readonly done: string[]
  readonly failed: { seq: string; error: string; delayMs: number }[]
}

/** What the relay needs beyond the database. */
export interface RelaySettings {
  readonly batch: number
  readonly leaseMs: number
  readonly sweepMs: number
  readonly maxBackoffMs: number
  /** The pool's size: a relay holding connections while it publishes leaves most to the actions. */
  readonly poolSize: number
}

/**
 * The relay: publishes what committed transactions left in the outbox, then deletes it. One
 * runs in every instance. A pass claims a batch of rows (`FOR UPDATE SKIP LOCKED`, so relays of
 * several instances never take the same row), for `leaseMs` at most: locked by a transaction
 * held open on PostgreSQL, leased on PGlite (see `pass`). It publishes each through the
 * instance's `send` or `emit` (which resolve once the transport confirmed it), deletes the
 * published rows and puts the failed ones back with a backoff. A relay that dies with rows
 * claimed leaves them to the next relay (at once when locked, once the lease is over when
 * leased): a row may so be published twice, never lost, and its message id stays the same for
 * the consumer's inbox.
 * Woken at once by a commit in this instance, by `NOTIFY` from another whose own relay does not
 * publish (paused or stopped; PostgreSQL), and every `sweepMs` regardless.
 */
export class Relay {
  private paused: boolean
  private running: Promise<void> | undefined
  private again = false
  private timer: Timer | undefined
  private stopped = false
  /** Messages published since start. */
  published = 0
  /** Who this relay's instance is in the notifications its commits send. */
  readonly instance = randomUUID()

  constructor(
    private readonly db: Database,
    private readonly host: PluginHost,
    private readonly log: Logger,
    private readonly settings: RelaySettings,
    paused: boolean,
  ) {
    this.paused = paused
  }

  /** Starts sweeping, and listens for other instances' commits. */
  async start(): Promise<void> {
    const clock = this.host.clock
    const sweep = (): void => {
      if (this.stopped) return
      this.timer = clock.setTimer(sweep, this.settings.sweepMs)
      this.timer.unref()
      this.wake()
    }
    this.timer = clock.setTimer(sweep, this.settings.sweepMs)
    this.timer.unref()
    // A commit of this instance woke the relay already: its own notifications are not news.
    await this.db.listen(OUTBOX_CHANNEL, (from) => {
      if (from !== this.instance) this.wake()
    })
    this.wake()
  }

  /** Runs a pass now, or once more after the one under way. */
  wake(): void {
    if (this.paused || this.stopped || this.db.outage() !== undefined) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.running = this.loop().finally(() => {
      this.running = undefined
    })
  }

  /** Stops publishing (a test's hook: commit, then kill the process before anything leaves). */
  pause(): void {
    this.paused = true
  }

  /** Publishes again. */
  resume(): void {
    this.paused = false
    this.wake()
  }

  /** Whether the relay publishes what this instance commits: started, neither paused nor stopped. */
  get publishing(): boolean {
    return this.timer !== undefined && !this.paused && !this.stopped
  }

  /** Whether the relay is paused. */
  get isPaused(): boolean {
    return this.paused
  }

  /**
   * Publishes what is available now, pass after pass until a pass finds nothing, even while
   * paused; resolves with how many messages were published.
   */
  async flush(): Promise<number> {
    if (this.running !== undefined) await this.running
    let total = 0
    for (;;) {
      const n = await this.drain()
      total += n
      if (n === 0) return total
    }
  }

  /** Stops the relay; a pass under way finishes first. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) this.host.clock.clearTimer(this.timer)
    if (this.running !== undefined) await this.running
  }

  private async loop(): Promise<void> {
    do {
      this.again = false
      try {
        await this.drain()
      } catch (err) {
        // The database went away mid-pass: the sweep tries again once it is back.
        this.log.warn({ err }, 'postgres: outbox relay pass failed')
        return
      }
    } while (this.again && !this.paused && !this.stopped)
  }

  /**
   * Passes until one finds less than a batch. A full first batch means a backlog: then
   * `LANES` passes run side by side, so that claiming and deleting one batch overlaps with
   * publishing another (SKIP LOCKED keeps them apart, as between instances). The others start
   * as soon as the first pass has claimed its full batch, not once it is published: they claim
   * while its confirms come back.
   */
  private async drain(): Promise<number> {
    let others: Promise<number>[] | undefined
    const first = await this.pass(() => {
      // A locking pass holds a connection while it publishes: at most half the pool's.
      const count = this.locking ? Math.min(LANES, this.settings.poolSize >> 1) : LANES
      others = Array.from({ length: count - 1 }, () => this.lane())
    })
    if (others === undefined) return first
    const own = first < this.settings.batch ? 0 : await this.lane()
    const rest = await Promise.all(others)
    return rest.reduce((a, b) => a + b, first + own)
  }

  /** Passes one after the other until one finds less than a batch; resolves with how many were published. */
  private async lane(): Promise<number> {
    let total = 0
    for (;;) {
      if (this.stopped) return total
      const n = await this.pass(undefined)
      total += n
      if (n < this.settings.batch) return total
    }
  }

  /**
   * One pass: claim, publish, settle. Resolves with how many were published. On PostgreSQL
   * with connections to spare, the claim is the lock of a transaction held open while the batch
   * is published, whose `COMMIT` deletes what was published: no lease is written. `full` is
   * called once the claim found a whole batch, before it is published. A relay that
   * dies mid-pass has its transaction rolled back and its rows unlocked at once, for the next
   * pass to publish again; a publish that has not settled within `leaseMs` is counted failed,
   * so no row stays locked longer than a lease would have held it. On PGlite (one connection,
   * which a transaction held open would take from every action) and on a small pool, the claim
   * is a lease written on the rows instead.
   */
  private async pass(full: (() => void) | undefined): Promise<number> {
    return this.locking ? this.passLocked(full) : this.passLeased(full)
  }

  private get locking(): boolean {
    return this.db.kind === 'postgres' && this.settings.poolSize >= 4
  }

  private async passLocked(full: (() => void) | undefined): Promise<number> {
    let settled: Settled = { done: [], failed: [] }
    // ORDER BY the column, not the `seq` of the select list (its text): that sorted "10" before
    // "9", so older rows waited behind newer ones, and could not use the primary key, so every
    // claim read and sorted the whole backlog (17 ms a claim at 20,000 rows).
    const claim =
      'SELECT seq::text AS seq, id, kind, name, data, meta, attempts FROM stoa_outbox' +
      ` WHERE available_at <= ${at(this.host.clock.now())} ORDER BY stoa_outbox.seq LIMIT ${this.settings.batch} FOR UPDATE SKIP LOCKED`
    await this.db.transaction(
      async (_tx, rows) => {
        if (rows.length === 0) return
        if (rows.length >= this.settings.batch) full?.()
        settled = await this.publishAll(rows as ClaimedRow[], this.settings.leaseMs)
      },
      {
        first: { text: claim },
        last: () => {
          const { done, failed } = settled
          const out = done.length === 0 ? [] : [{ text: `DELETE FROM stoa_outbox WHERE seq IN (${done.join(', ')})` }]
          const later = this.host.clock.now()
          for (const f of failed) {
            out.push({
              text: `UPDATE stoa_outbox SET available_at = ${at(later + f.delayMs)}, attempts = attempts + 1, last_error = ${quoteLiteral(f.error)} WHERE seq = ${f.seq}`,
            })
          }
          return out
        },
      },
    )
    this.published += settled.done.length
    return settled.done.length
  }

  private async passLeased(full: (() => void) | undefined): Promise<number> {
    const now = this.host.clock.now()
    const { rows } = await this.db.query<ClaimedRow>(
      `UPDATE stoa_outbox SET available_at = ${at(now + this.settings.leaseMs)}, attempts = attempts + 1
       WHERE seq IN (
         SELECT seq FROM stoa_outbox WHERE available_at <= ${at(now)} ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
       )
       RETURNING seq::text AS seq, id, kind, name, data, meta, attempts - 1 AS attempts`,
      [this.settings.batch],
    )
    if (rows.length === 0) return 0
    if (rows.length >= this.settings.batch) full?.()
    const { done, failed } = await this.publishAll(rows, undefined)
    if (done.length > 0) {
      await this.db.query('DELETE FROM stoa_outbox WHERE seq = ANY($1::bigint[])', [done])
      this.published += done.length
    }
    const later = this.host.clock.now()
    for (const f of failed) {
      await this.db.query(
        `UPDATE stoa_outbox SET available_at = ${at(later + f.delayMs)}, last_error = $2 WHERE seq = $1::bigint`,
        [f.seq, f.error],
      )
    }
    return done.length
  }

  /**
   * Publishes a batch side by side (the transport pipelines the confirms; order is not
   * promised) and sorts it into published and failed, each failure with its backoff. With
   * `withinMs`, a publish not settled by then counts as failed, and a confirm arriving later
   * changes nothing: a row counted failed is put back, never also deleted. One promise and one
   * timer for the batch, and per row only the two callbacks of its publish.
   */
  private publishAll(rows: readonly ClaimedRow[], withinMs: number | undefined): Promise<Settled> {
    const settled: Settled = { done: [], failed: [] }
    if (rows.length === 0) return Promise.resolve(settled)
    return new Promise<Settled>((resolve) => {
      // Which rows are counted already (1): each is counted once, published or failed.
      const counted = new Uint8Array(rows.length)
      let left = rows.length
      let timer: Timer | undefined
      const count = (i: number, ok: boolean, reason: unknown): void => {
        if (counted[i] === 1) return
        counted[i] = 1
        if (ok) settled.done.push(rows[i]!.seq)
        else this.failed(settled, rows[i]!, reason)
        if (--left > 0) return
        if (timer !== undefined) this.host.clock.clearTimer(timer)
        resolve(settled)
      }
      if (withinMs !== undefined) {
        timer = this.host.clock.setTimer(() => {
          timer = undefined
          const late = new Error(`not confirmed within the lease (${withinMs} ms)`)
          for (let i = 0; i < rows.length; i++) count(i, false, late)
        }, withinMs)
        timer.unref()
      }
      for (let i = 0; i < rows.length; i++) {
        let sent: Promise<void>
        try {
          sent = this.publish(rows[i]!)
        } catch (err) {
          count(i, false, err)
          continue
        }
        sent.then(
          () => count(i, true, undefined),
          (err: unknown) => count(i, false, err),
        )
      }
    })
  }

  /** Counts a row's publish failed, with its backoff, and says so in the log. */
  private failed(settled: Settled, row: ClaimedRow, reason: unknown): void {
    const error = reason instanceof Error ? reason.message : String(reason)
    const code = (reason as { code?: unknown } | undefined)?.code
    // `attempts` counts the failed publishes before this one.
    settled.failed.push({
      seq: row.seq,
      error: error.replace(/\0/g, '').slice(0, 500),
      delayMs: Math.min(this.settings.maxBackoffMs, 100 * 2 ** Math.min(row.attempts + 1, 20)),
    })
    this.log.warn(
      {
        id: row.id,
        name: row.name,
        attempts: row.attempts + 1,
        ...(typeof code === 'string' ? { code } : {}),
        error,
      },
      'postgres: outbox publish failed',
    )
  }

  /** Publishes one row as the send or emit that wrote it would have: same id, trace, token, deadline. */
  private publish(row: ClaimedRow): Promise<void> {
    const meta = row.meta
    const opts: CallOptions = { id: row.id, trace: meta.trace }
    if (meta.token !== undefined) opts.token = meta.token
    if (meta.caller !== undefined) opts.caller = meta.caller
    // What is left of the deadline: past it, the message still leaves, and its receiver refuses
    // it as late, exactly as a direct send made that late would be.
    if (meta.deadline !== undefined) opts.timeoutMs = Math.max(1, meta.deadline - this.host.clock.now())
    return row.kind === 'send' ? this.host.send(row.name, row.data, opts) : this.host.emit(row.name, row.data, opts)
  }
}

/** How many messages wait in the outbox, and for how long the oldest has waited (seconds). */
export async function outboxDepth(db: Database): Promise<{ depth: number; lagSeconds: number }> {
  const { rows } = await db.query<{ n: string; lag: number | null }>(
    'SELECT count(*)::text AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS lag FROM stoa_outbox',
  )
  return { depth: Number(rows[0]?.n ?? 0), lagSeconds: Math.max(0, Number(rows[0]?.lag ?? 0)) }
}
