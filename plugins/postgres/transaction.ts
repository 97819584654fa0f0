import { randomUUID } from 'node:crypto'
import type { CallOptions, Clock, Context, Message } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import { assertEventName, assertTaskName } from '../../actions/transport.js'
import type { Database, Sql, Statement } from './db.js'
import { quoteLiteral } from './db.js'
import { isConflict } from './errors.js'
import type { OutboxMeta } from './outbox.js'
import { OUTBOX_CHANNEL, outboxValues } from './outbox.js'

/**
 * One transaction of the service's database, as an action sees it: its own rows through
 * `query`, and tasks and events through `send` and `emit`, which are written to the outbox in
 * this same transaction and published by the relay only once it has committed. A rolled-back
 * transaction sends nothing; a committed one loses nothing.
 */
export interface Transaction extends Sql {
  /** Sends a task once this transaction commits: as `ctx.send` would, with the same metadata. */
  send(name: string, data?: Message, opts?: CallOptions): Promise<void>
  /** Emits an event once this transaction commits: as `ctx.emit` would. */
  emit(name: string, data?: Message, opts?: CallOptions): Promise<void>
  /**
   * This same transaction, its `send` and `emit` carrying the trace, identity and deadline of
   * the call `ctx` instead: in a batched handler (`batchAction`), one transaction commits many
   * deliveries, and each one's messages go out as sent from its own call.
   *
   * @example
   * stoa.add('task:tally.vote.record', batchAction({
   *   batch: { max: 100, waitMs: 10 },
   *   handler: (items) =>
   *     stoa.handleOf(postgres).transaction(undefined, async (tx) => {
   *       for (const { msg, ctx } of items) await tx.of(ctx).emit('vote.recorded', { voter: msg.voter })
   *     }),
   * }))
   */
  of(ctx: Context): Transaction
}

/** Runs transactions for one loading of the plugin. */
export class Transactions {
  /** The transaction an action's context is inside (an idempotent action's), joined by nested calls. */
  private readonly open = new WeakMap<Context, Transaction>()

  constructor(
    private readonly db: () => Database,
    private readonly service: string,
    private readonly clock: Clock,
    private readonly retries: number,
    private readonly committed: () => void,
    /**
     * What a commit that wrote messages says in its NOTIFY to the other instances' relays, or
     * undefined for no NOTIFY: this instance's relay, woken directly, publishes them.
     */
    private readonly notify: () => string | undefined,
  ) {}

  /**
   * Runs `fn` in one transaction, for the call `ctx` (whose trace, identity and deadline its
   * messages carry), or for none. Inside an idempotent action the action's own transaction is
   * joined, so the effect and the inbox row commit together. A transaction that lost a race
   * (serialization failure, deadlock) is run again, `retries` times; a database that cannot be
   * reached fails it with `UNAVAILABLE`.
   */
  async run<T>(
    ctx: Context | undefined,
    fn: (tx: Transaction, first: Record<string, unknown>[]) => Promise<T>,
    edges?: { readonly first?: Statement; readonly last?: () => Statement | undefined },
  ): Promise<T> {
    const joined = ctx === undefined ? undefined : this.open.get(ctx)
    if (joined !== undefined) {
      if (edges !== undefined) throw new Error('a transaction with edges cannot join another')
      return fn(joined, [])
    }
    const db = this.db()
    for (let attempt = 0; ; attempt++) {
      // The messages this transaction sends, as rows of one INSERT: written after `fn`, in the
      // round trip of the COMMIT (with the NOTIFY, when there is one), not one round trip each.
      const rows: string[] = []
      const last = (): Statement[] => {
        const own = edges?.last?.()
        const out: Statement[] = []
        if (rows.length > 0) {
          const parts = [`INSERT INTO stoa_outbox (id, kind, name, data, meta, available_at) VALUES ${rows.join(', ')}`]
          // Only when this instance's relay will not publish them: PostgreSQL serializes the
          // commits that notify, and every listening instance would wake for each.
          const from = db.kind === 'postgres' ? this.notify() : undefined
          if (from !== undefined) parts.push(`SELECT pg_notify('${OUTBOX_CHANNEL}', ${quoteLiteral(from)})`)
          out.push({ text: parts.join('; ') })
        }
        if (own !== undefined) out.push(own)
        return out
      }
      try {
        const out = await db.transaction(
          async (sql, first) => {
            const tx = this.transaction(sql, ctx, rows)
            if (ctx !== undefined) this.open.set(ctx, tx)
            try {
              return await fn(tx, first)
            } finally {
              if (ctx !== undefined) this.open.delete(ctx)
            }
          },
          { first: edges?.first, last },
        )
        if (rows.length > 0) this.committed()
        return out
      } catch (err) {
        if (isConflict(err)) {
          if (attempt < this.retries) continue
          throw new StoaError(
            'UNAVAILABLE',
            `the transaction kept conflicting with others (${attempt + 1} tries)`,
            { database: db.where },
            { cause: err },
          )
        }
        throw err
      }
    }
  }

  /** Runs one statement on the database, outside any transaction. */
  async query(st: Statement): Promise<Record<string, unknown>[]> {
    return (await this.db().query(st.text, st.values)).rows
  }

  private transaction(sql: Sql, ctx: Context | undefined, rows: string[]): Transaction {
    const write = async (kind: 'send' | 'emit', name: string, data: Message | undefined, opts?: CallOptions) => {
      if (kind === 'send') assertTaskName(name)
      else assertEventName(name)
      if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
        throw new StoaError(
          'INVALID_MESSAGE',
          `the data of ${kind === 'send' ? 'task' : 'event'} "${name}" must be an object`,
        )
      }
      // Made now, so that what cannot be written (a NUL in an id, data JSON cannot hold) fails the send.
      rows.push(outboxValues({ kind, name, data: data ?? {}, ...this.metaOf(ctx, opts) }, this.clock.now()))
    }
    return {
      query: (text, params) => sql.query(text, params),
      exec: (text) => sql.exec(text),
      send: (name, data, opts) => write('send', name, data, opts),
      emit: (name, data, opts) => write('emit', name, data, opts),
      of: (other) => this.transaction(sql, other, rows),
    }
  }

  /** The id and metadata a direct `ctx.send` would give the message, fixed now. */
  private metaOf(ctx: Context | undefined, opts: CallOptions | undefined): { id: string; meta: OutboxMeta } {
    if (ctx !== undefined) {
      const m = ctx.childMeta(opts, this.service)
      const meta: { -readonly [K in keyof OutboxMeta]: OutboxMeta[K] } = { trace: m.trace, deadline: m.deadline }
      if (m.token !== undefined) meta.token = m.token
      if (m.caller !== undefined) meta.caller = m.caller
      return { id: opts?.id ?? m.id, meta }
    }
    const id = opts?.id ?? randomUUID()
    const meta: { -readonly [K in keyof OutboxMeta]: OutboxMeta[K] } = {
      trace: opts?.trace ?? id,
      caller: this.service,
    }
    if (opts?.timeoutMs !== undefined && Number.isFinite(opts.timeoutMs))
      meta.deadline = this.clock.now() + opts.timeoutMs
    if (opts?.token !== undefined) meta.token = opts.token
    return { id, meta }
  }
}
