import type { ActionInfo, Clock, Context, Message, RunAction } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { Database, Statement } from './db.js'
import type { Transactions } from './transaction.js'

/** How an action says it is idempotent: by message id (`true`), or by a key of its own. */
export type Idempotent =
  | boolean
  | {
      /**
       * The key of this call's effect: the same key means the same effect, done once. Undefined
       * falls back to the default (the `Idempotency-Key` header, else the message id).
       */
      key: (msg: Message, ctx: Context) => string | undefined
    }

declare module '../../actions/action.js' {
  interface ActionOptions {
    /**
     * The postgres plugin records this call's key in its inbox in the same transaction as the
     * effect: a repeat of the key changes nothing, an act gets the first call's result, a task
     * is acknowledged without running. The key is the `Idempotency-Key` header when the call
     * came with one, else the message id; `{ key }` gives one of the action's own.
     */
    idempotent?: Idempotent
  }
  interface SubscribeOptions {
    /**
     * The postgres plugin records the event's id (or `{ key }`'s) for this subscriber in its
     * inbox in the same transaction as the effect: a redelivered event changes nothing.
     */
    idempotent?: Idempotent
  }
}

/** The header an HTTP client names its request's effect with. */
const HEADER = 'idempotency-key'

/**
 * The inbound hook that makes declared actions idempotent: it opens the transaction, looks the
 * key up in the same round trip as `BEGIN`, runs the action inside it (the action's own
 * `transaction(ctx, ...)` joins it) and records the key with the result in the round trip of
 * `COMMIT`: one round trip and one row written, no more. When the key is there already, the
 * stored result is the answer and the action does not run. Two deliveries of one key at once
 * both run; the second's insert of the key waits for the first transaction and then fails on
 * the key, which rolls its effect back; a call whose transaction failed while the key was being
 * recorded by another answers with the stored result. So the effect is done once either way.
 * The key is dated by `clock`, the instance's, as {@link expireInbox} counts its age.
 */
export function idempotentHook(txs: Transactions, clock: Clock): (next: RunAction, action: ActionInfo) => RunAction {
  // The subscribers of one event share their key (`event:<name>`) and, by default, the event's
  // id: two idempotent ones would take each other's effect for done. Hooks are applied again
  // as plugins load, so a subscriber is told apart by its info, made once.
  const subscribers = new Map<string, ActionInfo>()
  return (next, action) => {
    const declared = action.options.idempotent
    if (declared === undefined || declared === false) return next
    if (declared !== true && (typeof declared !== 'object' || typeof declared.key !== 'function')) {
      throw new StoaError('INVALID_OPTIONS', `action "${action.key}": option "idempotent" must be true or { key }`, {
        pattern: action.key,
        fields: ['idempotent'],
      })
    }
    // A batch commits many deliveries in one transaction of its own, while the inbox opens one
    // per delivery: the two cannot share a transaction, so a batched action keeps its own keys.
    if (action.batch !== undefined) {
      throw new StoaError(
        'INVALID_OPTIONS',
        `action "${action.key}": a batched action cannot be "idempotent": make its effect idempotent in its own SQL (as the vote tally does by vote id)`,
        { pattern: action.key, fields: ['idempotent'] },
      )
    }
    const own = declared === true ? undefined : declared.key
    if (own === undefined && isSubscriber(action)) {
      const seen = subscribers.get(action.key)
      if (seen !== undefined && seen !== action) {
        throw new StoaError(
          'INVALID_OPTIONS',
          `two subscribers of "${action.key.slice('event:'.length)}" are idempotent by the event's id: give each \`idempotent: { key }\` of its own (such as \`(msg, ctx) => 'count/' + ctx.id\`)`,
          { pattern: action.key, fields: ['idempotent'] },
        )
      }
      subscribers.set(action.key, action)
    }
    const scope = `${action.key}\n`
    return async (msg, ctx) => {
      const key = scope + (own?.(msg, ctx) ?? ctx.headers[HEADER] ?? ctx.id)
      if (key.includes('\0')) throw new StoaError('INVALID_MESSAGE', 'a key cannot hold a NUL character')
      const lookup: Statement = { name: LOOKUP.name, text: LOOKUP.text, values: [key] }
      // Wrapped, so that `undefined` and `null` stay apart (a task's undefined is stored as NULL);
      // undefined while there is nothing to record (the key was there).
      let result: string | null | undefined
      const edges = {
        first: lookup,
        last: (): Statement | undefined =>
          result === undefined
            ? undefined
            : { name: RECORD.name, text: RECORD.text, values: [key, result, String(clock.now())] },
      }
      try {
        return await txs.run(
          ctx,
          async (_tx, first) => {
            result = undefined
            if (first.length > 0) return stored(first[0])
            const out = await next(msg, ctx)
            // What JSON cannot hold fails the call.
            result = out === undefined ? null : JSON.stringify({ v: out })
            return out
          },
          edges,
        )
      } catch (err) {
        // Another delivery of the key committed while this one ran: its effect stands, and its
        // result is the answer. Without a key, or with the database gone, the failure is this call's.
        const found = await txs.query(lookup).catch(() => undefined)
        if (found !== undefined && found.length > 0) return stored(found[0])
        throw err
      }
    }
  }
}

/**
 * The two statements of every idempotent call, named: PostgreSQL parses and plans each once per
 * connection instead of once per call. The result goes as text and is cast, so that PGlite
 * (which would serialize a string given for a jsonb parameter as a JSON string) stores the same.
 */
const LOOKUP = { name: 'stoa_inbox_lookup', text: 'SELECT result FROM stoa_inbox WHERE key = $1' } as const
const RECORD = {
  name: 'stoa_inbox_record',
  text: 'INSERT INTO stoa_inbox (key, result, created_at) VALUES ($1, $2::text::jsonb, to_timestamp($3::float8 / 1000))',
} as const

/** Whether an action is an event's subscriber (`stoa.on`): its pattern is `{ event }` alone. */
function isSubscriber(action: ActionInfo): boolean {
  return action.key.startsWith('event:') && Object.keys(action.pattern).length === 1
}

/** The result an inbox row holds: what the first call answered. */
function stored(row: Record<string, unknown> | undefined): unknown {
  return (row?.result as { v?: unknown } | null | undefined)?.v
}

/**
 * Deletes inbox keys older than the retention at `nowMs`, a time of the instance's clock (the
 * keys are dated by it too, not by the database's `now()`), so that under a virtual clock a key
 * expires when the test moves time; instances' clocks are kept in step (NTP) to well within a
 * retention. A repeat after that runs again.
 */
export async function expireInbox(db: Database, retentionMs: number, nowMs: number): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `WITH gone AS (DELETE FROM stoa_inbox WHERE created_at < to_timestamp($1::float8 / 1000) RETURNING 1)
     SELECT count(*)::text AS n FROM gone`,
    [nowMs - retentionMs],
  )
  return Number(rows[0]?.n ?? 0)
}
