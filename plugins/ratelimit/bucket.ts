/**
 * One budget's shape as a token bucket, and its buckets in this instance's memory.
 *
 * A bucket holds `burst` tokens and gains `points` every `durationSec`; a call takes one and is
 * refused when none is left. It is kept as GCRA keeps it: one number per caller, the
 * theoretical arrival time (TAT), the time at which the bucket would be full again. A caller
 * with no TAT, or one in the past, has a full bucket; taking a token moves the TAT one
 * interval on; a call is refused when that would put the TAT more than the bucket's capacity
 * (`burst` intervals) past now. The Redis store runs the same rule in a script (redis.ts).
 */

/** A budget as its buckets count it. */
export interface Shape {
  /** ms in which the bucket gains one token. */
  readonly intervalMs: number
  /** ms of tokens a full bucket holds: `burst` intervals. */
  readonly capacityMs: number
}

/**
 * What taking a token said. The memory store hands back one object per budget, overwritten by
 * the next take: it is read at once, and a hit allocates nothing.
 */
export interface Take {
  /** Whether the call may run (it took a token). */
  ok: boolean
  /** Whole tokens left after the call (0 on a refusal). */
  remaining: number
  /** ms until a refused call would find a token (0 when it ran). */
  waitMs: number
  /** ms until the bucket is full again. */
  fullMs: number
}

/**
 * Float slack, ms: TATs are sums of intervals near 2^40 ms, whose last bits drift; a µs either
 * way decides nothing a caller could notice, and keeps a bucket of exactly `burst` calls from
 * refusing the last one by rounding.
 */
export const SLACK_MS = 0.001

/** The shape of `burst` tokens gaining `points` every `durationSec`. */
export function shapeOf(points: number, durationSec: number, burst: number): Shape {
  const intervalMs = (durationSec * 1000) / points
  return { intervalMs, capacityMs: intervalMs * burst }
}

/**
 * The budget's buckets in this instance, one TAT per caller. A caller whose bucket is full has
 * no entry: entries are swept when the map has doubled since the last sweep, so it holds the
 * callers of the last `capacityMs` or so, not every caller ever seen.
 */
export class MemoryBuckets {
  private readonly tats = new Map<string, number>()
  private sweepAt = 1024
  private readonly out: Take = { ok: true, remaining: 0, waitMs: 0, fullMs: 0 }

  constructor(
    private readonly shape: Shape,
    private readonly now: () => number,
  ) {}

  /** Takes a token from `key`'s bucket, or says how long until there is one. */
  take(key: string): Take {
    const now = this.now()
    const { intervalMs, capacityMs } = this.shape
    const had = this.tats.get(key)
    const tat = had === undefined || had < now ? now : had
    const next = tat + intervalMs
    const out = this.out
    if (next - now > capacityMs + SLACK_MS) {
      out.ok = false
      out.remaining = 0
      out.waitMs = next - capacityMs - now
      out.fullMs = tat - now
      return out
    }
    if (had === undefined && this.tats.size >= this.sweepAt) this.sweep(now)
    this.tats.set(key, next)
    out.ok = true
    out.remaining = Math.floor((capacityMs - (next - now) + SLACK_MS) / intervalMs)
    out.waitMs = 0
    out.fullMs = next - now
    return out
  }

  /** How many callers have a bucket that is not full (or was not, at the last sweep). */
  get size(): number {
    return this.tats.size
  }

  /** Forgets full buckets: a caller with no entry has a full one. */
  private sweep(now: number): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key)
    this.sweepAt = Math.max(1024, this.tats.size * 2)
  }
}
