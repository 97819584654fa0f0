import type { ActionDef, ActionOptions, BatchHandler, BatchItem, BatchOptions, BatchSpec } from './action.js'
import type { Context } from './context.js'
import type { Clock, Timer } from './deadlines.js'
import { StoaError } from './errors.js'
import type { Message } from './pattern.js'
import type { Schema, SchemaInput, SchemaOutput } from './schema.js'

/** Where the largest and longest batches stop: beyond them a batch outlives its deadlines. */
const MAX_BATCH = 10_000
const MAX_WAIT_MS = 60_000

/**
 * Declares a batched task handler: deliveries of the task are validated one by one (an invalid
 * one fails alone with `INVALID_MESSAGE`), pass the inbound hooks one by one, then wait
 * together until `max` of them are there or the first has waited `waitMs`, and the handler gets
 * them all at once, to commit them in one transaction. Each delivery's call resolves when its
 * batch succeeded, so the transport acknowledges them together.
 *
 * When the handler throws, the batch is **bisected**: each half runs again on its own, and so on
 * down to single deliveries, so a message that fails fails alone (its call rejects with the
 * error, and the transport's ordinary retry rule retries or dead-letters it) while the rest
 * commit. A failure that says something the whole batch needs is down (`UNAVAILABLE`,
 * `CLOSED`) fails every delivery of the batch at once instead: splitting would only repeat it.
 * Registered with `add`, every call of the task goes through the batch, an in-process `act` or
 * `send` too; the definition's own `handler` runs a batch of one, for whoever holds the
 * definition alone.
 *
 * @example
 * const record = batchAction({
 *   schema: z.object({ voter: z.string() }),
 *   batch: { max: 100, waitMs: 20 },
 *   handler: async (items) => {
 *     for (const { msg, ctx } of items) await votes.insert({ voter: msg.voter, trace: ctx.trace }) // one transaction for all
 *   },
 * })
 * stoa.add('task:tally.vote.record', record)
 */
export function batchAction<S extends Schema>(
  def: ActionOptions<S> & {
    schema: S
    batch: BatchOptions
    handler: BatchHandler<SchemaOutput<S> & Message>
  },
): ActionDef<SchemaInput<S>, undefined>
export function batchAction(
  def: ActionOptions<undefined> & { batch: BatchOptions; handler: BatchHandler<Message> },
): ActionDef<Message, undefined>
export function batchAction(def: ActionOptions & { batch: BatchOptions; handler: BatchHandler<any> }): ActionDef {
  const { batch, handler, ...options } = def
  checkBatch(batch)
  const spec: BatchSpec = Object.freeze({ max: batch.max, waitMs: batch.waitMs, handler })
  return {
    ...options,
    batch: spec,
    handler: async (msg: Message, ctx: Context) => {
      await handler([{ msg, ctx }])
    },
  }
}

function checkBatch(batch: unknown): asserts batch is BatchOptions {
  const b = batch as Partial<BatchOptions> | null
  const fields: string[] = []
  if (b === null || typeof b !== 'object') fields.push('batch')
  else {
    if (!Number.isInteger(b.max) || b.max! < 1 || b.max! > MAX_BATCH) fields.push('batch.max')
    if (typeof b.waitMs !== 'number' || !Number.isFinite(b.waitMs) || b.waitMs < 0 || b.waitMs > MAX_WAIT_MS)
      fields.push('batch.waitMs')
  }
  if (fields.length > 0)
    throw new StoaError(
      'INVALID_PLUGIN',
      `batch: "max" must be an integer from 1 to ${MAX_BATCH} and "waitMs" a number of ms from 0 to ${MAX_WAIT_MS}`,
      { fields },
    )
}

/** A delivery waiting in a batch, with its call's settlement. */
interface Waiting extends BatchItem {
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * The codes that say the batch as a whole met something down: every delivery would fail alike,
 * so the batch is not split (a database that hangs would otherwise be waited on 2n-1 times).
 */
const WHOLE_BATCH = new Set(['UNAVAILABLE', 'CLOSED'])

/**
 * Gathers the deliveries of one batched action on one instance and runs its handler on them:
 * `run` is the action's per-delivery function, resolving when the delivery's batch committed.
 */
export class Batcher {
  private pending: Waiting[] = []
  private timer: Timer | undefined

  constructor(
    private readonly spec: BatchSpec,
    private readonly clock: Clock,
  ) {}

  /** Adds one delivery; resolves once a batch holding it succeeded, rejects with its own failure. */
  readonly run = (msg: Message, ctx: Context): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      this.pending.push({ msg, ctx, resolve, reject })
      if (this.pending.length >= this.spec.max) this.flush()
      else if (this.timer === undefined) this.timer = this.clock.setTimer(() => this.flush(), this.spec.waitMs)
    })

  private flush(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
    const items = this.pending
    this.pending = []
    if (items.length > 0) void this.runBatch(items)
  }

  /** Runs a batch; when it fails, splits it in halves and runs each, down to single deliveries. */
  private async runBatch(items: Waiting[]): Promise<void> {
    try {
      await this.spec.handler(items.map(({ msg, ctx }) => ({ msg, ctx })))
    } catch (err) {
      if (items.length === 1 || (err instanceof StoaError && WHOLE_BATCH.has(err.code))) {
        for (const item of items) item.reject(err)
        return
      }
      // One after the other: the halves of a failed batch must not compete for the rows or
      // connections the next batch also wants.
      const half = Math.ceil(items.length / 2)
      await this.runBatch(items.slice(0, half))
      await this.runBatch(items.slice(half))
      return
    }
    for (const item of items) item.resolve()
  }
}
