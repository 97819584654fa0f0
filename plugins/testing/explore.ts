import type { Arbitrary } from 'fast-check'
import { loadPeer } from '../../actions/transport.js'
import type { FaultKind } from './faults.js'
import { appliesAt, FAULT_KINDS } from './faults.js'
import type { HarnessOptions } from './harness.js'
import { Harness } from './harness.js'

type FastCheck = typeof import('fast-check')

/** The faults of one run, one per fault point in the order the points are reached; `none` for none. */
export type Schedule = readonly (FaultKind | 'none')[]

/** Options of {@link explore}. */
export interface ExploreOptions<I> {
  /** What each run works on (votes, orders), generated and shrunk by fast-check. Default: nothing. */
  input?: Arbitrary<I>
  /** The fault kinds explored. Default: all of them. */
  faults?: readonly FaultKind[]
  /** The longest schedule of faults a run draws. Default 20. */
  maxFaults?: number
  /** Whether fast-check's scheduler also picks the order of deliveries. Default true. */
  interleave?: boolean
  /** How many runs. Default 100. */
  runs?: number
  /** Replays a failure: the seed (and path) the failure printed. */
  seed?: number
  path?: string
  /** The harness of each run (its broker policy, fault rules, clock start). */
  harness?: Omit<HarnessOptions, 'chooser' | 'gate' | 'drive'>
  /** How much virtual time a run may take to settle. Default 1 h. */
  within?: number | string
  /**
   * Starts the services and sets the work going (`h.spawn` for each client, `h.send`...). The
   * harness then settles: do not wait here for answers that need the clock to move.
   */
  run(h: Harness, input: I): Promise<void>
  /** The invariant, checked once the run settled: throw (an assertion) when it does not hold. */
  check(h: Harness, input: I): Promise<void> | void
  /** Cleans up after each run (empties a database shared by the runs). */
  reset?(): Promise<void>
}

/**
 * Checks an invariant over many runs, each with its own schedule of faults (and, by default,
 * its own order of deliveries from fast-check's scheduler). A failing run is shrunk to the
 * fewest faults and smallest input that still fail; the error gives the seed and path to
 * replay it (`explore({ ..., seed, path })`), the schedule, and the trace of that run.
 *
 * @example
 * const counted = new Map<string, number>()
 * await explore({
 *   input: fc.uniqueArray(fc.constantFrom('ada', 'bob', 'cy'), { minLength: 1 }),
 *   faults: ['duplicate', 'crash'],
 *   run: async (h, voters) => {
 *     counted.clear()
 *     await h.start((o) => createStoa({ name: 'tally', ...o }).use(tally))
 *     for (const voter of voters) await h.send('tally.vote.record', { voter })
 *   },
 *   check: (h, voters) => {
 *     if (voters.some((v) => counted.get(v) !== 1)) throw new Error(`not counted once:\n${h.trace()}`)
 *   },
 * })
 */
export async function explore<I = undefined>(options: ExploreOptions<I>): Promise<void> {
  const fc = await loadPeer<FastCheck>('fast-check', 'stoa/testing')
  const kinds = options.faults ?? FAULT_KINDS
  const schedule = fc.array(fc.constantFrom<FaultKind | 'none'>('none', ...kinds), {
    maxLength: options.maxFaults ?? 20,
  })
  const input = (options.input ?? fc.constant(undefined)) as Arbitrary<I>
  const orders = options.interleave === false ? fc.constant(undefined) : fc.scheduler()
  let lastTrace = ''
  const property = fc.asyncProperty(orders, schedule, input, async (s, faults, value) => {
    let point = 0
    const h = new Harness({
      ...options.harness,
      chooser: (at) => {
        // Each point takes the next fault; one that cannot happen here (a lost confirm on a
        // delivery) is no fault, so shrinking a schedule never shifts the faults after it.
        const f = faults[point++]
        return f === undefined || f === 'none' || !appliesAt(f, at) ? undefined : f
      },
      gate: s === undefined ? undefined : (label) => s.schedule(Promise.resolve(), label),
      drive:
        s === undefined
          ? undefined
          : async () => {
              if (s.count() === 0) return false
              await s.waitNext(1)
              return true
            },
    })
    try {
      await options.run(h, value)
      await h.settle(options.within)
      h.assertSpawnsDone()
      await options.check(h, value)
    } catch (err) {
      lastTrace = h.trace()
      throw err
    } finally {
      await h.close()
      await options.reset?.()
    }
  })
  const details = await fc.check(property, {
    numRuns: options.runs ?? 100,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
  })
  if (!details.failed) return
  const [order, faults, value] = details.counterexample ?? [undefined, [], undefined]
  throw new ExploreFailure({
    seed: details.seed,
    path: details.counterexamplePath ?? '',
    schedule: trimmed(faults),
    input: value,
    order: order === undefined ? undefined : String(order),
    trace: lastTrace,
    shrinks: details.numShrinks,
    cause: details.errorInstance,
  })
}

/** A schedule without the `none` faults after its last fault. */
function trimmed(faults: Schedule): Schedule {
  let end = faults.length
  while (end > 0 && faults[end - 1] === 'none') end--
  return faults.slice(0, end)
}

/**
 * An invariant that failed: the smallest failing run fast-check found, how to replay it, and
 * what happened in it.
 */
export class ExploreFailure extends Error {
  /** Pass `seed` and `path` back to `explore` to run this case first. */
  readonly seed: number
  readonly path: string
  /** The faults, one per fault point, of the smallest failing run. */
  readonly schedule: Schedule
  /** Its input. */
  readonly input: unknown
  /** The order the scheduler gave the deliveries, when it ordered them. */
  readonly order: string | undefined
  /** Its trace: each step with the virtual time. */
  readonly trace: string
  /** How many smaller failing runs fast-check went through to find it. */
  readonly shrinks: number

  constructor(f: Omit<ExploreFailure, keyof Error | 'name'> & { cause: unknown }) {
    const faults = f.schedule.flatMap((k, i) => (k === 'none' ? [] : [`${k} at point ${i + 1}`]))
    super(
      [
        `invariant failed: ${f.cause instanceof Error ? f.cause.message : String(f.cause)}`,
        `replay: explore({ ..., seed: ${f.seed}, path: '${f.path}' })`,
        `faults (${faults.length}, after ${f.shrinks} shrinks): ${faults.length === 0 ? 'none' : faults.join(', ')}`,
        `input: ${JSON.stringify(f.input)}`,
        ...(f.order === undefined ? [] : [`order: ${f.order}`]),
        'trace:',
        f.trace,
      ].join('\n'),
      { cause: f.cause },
    )
    this.name = 'ExploreFailure'
    this.seed = f.seed
    this.path = f.path
    this.schedule = f.schedule
    this.input = f.input
    this.order = f.order
    this.trace = f.trace
    this.shrinks = f.shrinks
  }
}
