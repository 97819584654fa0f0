import { eventLoopTurn } from '../../actions/index.js'

/**
 * Which calls of one action have their time read. Reading the clock costs about 37 ns here
 * and timing a call takes two reads, more than an in-process act costs on its own. The first
 * call of an action in each turn of the event loop is timed (a request from a socket starts a
 * turn, so a server's calls are all timed); within one turn, while calls come faster than one
 * every {@link TIMED_EVERY_MS}, about one in that time is timed and at least one in
 * {@link MAX_STRIDE}, and each call between is counted (every call is counted) as taking as long
 * as the latest timed call of the same action. The stride is jittered, so a cycle in the calls
 * (every eighth one slow, say) cannot line up with it.
 */
export class Sampler {
  /** The latest timed call's duration, seconds: what a call between two timed ones counts as. */
  seconds = 0
  /** The bucket {@link seconds} fell in. */
  bucket = 0
  private left = 1
  private since = 0
  private lastStart = Number.NaN
  private seed = 0x9e3779b9
  private turn = -1

  /** Whether the call starting now is to be timed. */
  timeThis(): boolean {
    this.since++
    const t = eventLoopTurn()
    if (t !== this.turn) {
      // The gap since the last timed call held idle time, not calls: no rate is measured.
      this.turn = t
      this.lastStart = Number.NaN
      return true
    }
    return --this.left <= 0
  }

  /** Told the start of a timed call: picks how many calls pass before the next one is timed. */
  started(start: number): void {
    const elapsed = start - this.lastStart
    const calls = this.since
    this.lastStart = start
    this.since = 0
    // Calls per ms times the gap wanted; NaN (the first call) and a long quiet time give 1.
    const wanted = elapsed > 0 ? Math.floor((calls * TIMED_EVERY_MS) / elapsed) : elapsed === 0 ? MAX_STRIDE : 1
    const stride = Math.min(MAX_STRIDE, Math.max(1, wanted))
    if (stride === 1) {
      this.left = 1
      return
    }
    // xorshift32: a stride drawn from 1..2·stride-1, `stride` on average.
    let x = this.seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.seed = x >>> 0
    this.left = 1 + (this.seed % (2 * stride - 1))
  }
}

/** The time wanted between two timed calls of one action, ms. */
export const TIMED_EVERY_MS = 0.02
/**
 * Never fewer timed calls than one in this many; it bounds how many calls of a turn can be
 * counted with a stale duration when a fast action turns slow in the middle of a long turn.
 */
export const MAX_STRIDE = 64
