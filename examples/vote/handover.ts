import { definePlugin } from 'stoa'
import { z } from 'zod'
import type { SharedStore } from './store/shared.js'

/**
 * The embedded demo's durable hand-over. On the memory transport a task is handed to its
 * handler in memory, which a SIGKILL loses. With this plugin loaded on the sending instance,
 * a task leaving it (for the names in `tasks`) is first committed to the `task_outbox` table,
 * and only then handed over and answered; loaded on the handling instance, a task whose
 * handler succeeded is deleted from the table. What is left there at start (or older than
 * `redriveMs`, a hand-over whose handler failed) is sent again by {@link redrive}. A task may
 * so run twice, never zero times: its handler must make a second run harmless, as the tally's
 * vote id does. On RabbitMQ the broker's confirm gives the same guarantee, and this plugin is
 * not loaded.
 */
export const handover = definePlugin({
  name: 'handover',
  options: z.object({
    /** The database the table lives in: the same one the handler commits to. */
    store: z.custom<SharedStore>((v) => v !== null && typeof v === 'object' && 'acquire' in v, 'must be a SharedStore'),
    /** The task names kept durable. */
    tasks: z.array(z.string()).default(['tally.vote.record']),
  }),
  init: async (_stoa, options) => {
    await options.store.acquire(true)
    return () => options.store.release()
  },
  hooks: (options) => {
    const names = new Set(options.tasks)
    return {
      outbound: (next) => async (envelope, ctx) => {
        if (envelope.kind !== 'send' || envelope.name === undefined || !names.has(envelope.name))
          return next(envelope, ctx)
        await options.store
          .current()
          .query('INSERT INTO task_outbox (id, name, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [
            envelope.meta.id,
            envelope.name,
            JSON.stringify(envelope.msg),
          ])
        // Committed: from here the task survives the process, so the caller may be answered.
        return next(envelope, ctx)
      },
      inbound: (next, action) => {
        const task = action.pattern.task
        if (typeof task !== 'string' || !names.has(task)) return next
        return async (msg, ctx) => {
          const out = await next(msg, ctx)
          await options.store.current().query('DELETE FROM task_outbox WHERE id = $1', [ctx.id])
          return out
        }
      },
    }
  },
})

/**
 * Sends again the tasks still in the outbox that are older than `olderThanMs`: all of them at
 * start (the process died holding them), later those whose handler failed.
 *
 * @returns how many were sent again
 */
export async function redrive(
  store: SharedStore,
  send: (name: string, data: Record<string, unknown>, id: string) => Promise<void>,
  olderThanMs: number,
): Promise<number> {
  const { rows } = await store
    .current()
    .query<{ id: string; name: string; data: Record<string, unknown> }>(
      `SELECT id, name, data FROM task_outbox WHERE created_at <= now() - make_interval(secs => $1) ORDER BY created_at`,
      [olderThanMs / 1000],
    )
  for (const row of rows) await send(row.name, row.data, row.id)
  return rows.length
}
