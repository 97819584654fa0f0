import type { ActionInfo, Context, Message, RunAction } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { Database } from './db.js'
import { quoteLiteral } from './db.js'
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
}

/** The header an HTTP client names its request's effect with. */
const HEADER = 'idempotency-key'

/**
 * The inbound hook that makes declared actions idempotent: it opens the transaction, records
 * the key (`INSERT ... ON CONFLICT DO NOTHING`), runs the action inside it (the action's own
 * `transaction(ctx, ...)` joins it) and stores the result with the key. When the key is there
 * already, the stored result is the answer and the action does not run. Two deliveries of one
 * key at once: PostgreSQL makes the second insert wait for the first transaction, then finds
 * the key (or, if the first rolled back, runs).
 */
export function idempotentHook(txs: Transactions): (next: RunAction, action: ActionInfo) => RunAction {
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
    const scope = `${action.key}\n`
    return (msg, ctx) => {
      const key = quoteLiteral(scope + (own?.(msg, ctx) ?? ctx.headers[HEADER] ?? ctx.id))
      // The key goes in with BEGIN and the result with COMMIT, in their round trips; a result
      // of undefined (a task's, usually) is what a NULL gives back, so it is not written.
      let result: string | undefined
      const edges = {
        first: `INSERT INTO stoa_inbox (key) VALUES (${key}) ON CONFLICT (key) DO NOTHING RETURNING 1 AS fresh`,
        last: () => result,
      }
      return txs.run(
        ctx,
        async (tx, first) => {
          if (first.length === 0) {
            const { rows } = await tx.query<{ result: { v?: unknown } | null }>(
              `SELECT result FROM stoa_inbox WHERE key = ${key}`,
            )
            return rows[0]?.result?.v
          }
          result = undefined
          const out = await next(msg, ctx)
          // Wrapped, so that `undefined` and `null` stay apart; what JSON cannot hold fails the call.
          if (out !== undefined)
            result = `UPDATE stoa_inbox SET result = ${quoteLiteral(JSON.stringify({ v: out }))}::jsonb WHERE key = ${key}`
          return out
        },
        edges,
      )
    }
  }
}

/** Deletes inbox keys older than the retention: a repeat after that runs again. */
export async function expireInbox(db: Database, retentionMs: number): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `WITH gone AS (DELETE FROM stoa_inbox WHERE created_at < now() - make_interval(secs => $1) RETURNING 1)
     SELECT count(*)::text AS n FROM gone`,
    [retentionMs / 1000],
  )
  return Number(rows[0]?.n ?? 0)
}
