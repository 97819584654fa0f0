import type { Clock, Timer } from './deadlines.js'

/**
 * A readiness check: returns (or resolves) normally when what it checks can take work; returns
 * `false`, throws or rejects when it cannot (the thrown error's message is the reason shown).
 */
export type ReadyCheck = () => boolean | void | Promise<boolean | void>

/** One line of a readiness verdict: the instance itself, a transport, or a registered check. */
export interface CheckStatus {
  /** `lifecycle`, `transport:<name>`, or the name a check was registered under. */
  readonly name: string
  readonly ready: boolean
  /** Why it is not ready. */
  readonly reason?: string
}

/** Whether an instance can take work now, and the verdict of each part when it cannot. */
export interface Readiness {
  readonly ready: boolean
  readonly checks: readonly CheckStatus[]
}

/** What a transport says of itself: `{ ready: true }`, or not with the reason. */
export type TransportHealth = { readonly ready: true } | { readonly ready: false; readonly reason: string }

/** A check taking longer than this is not ready: a probe must answer before its own timeout. */
export const CHECK_TIMEOUT_MS = 2000

/**
 * The readiness checks registered on one instance, by name. Checks run in parallel, each
 * bounded by {@link CHECK_TIMEOUT_MS} on the instance's clock (under a virtual clock a hung
 * check times out when the test moves time); one that throws or hangs makes the instance not
 * ready, never the probe fail.
 */
export class Checks {
  private readonly checks = new Map<string, ReadyCheck>()

  constructor(private readonly clock: Clock) {}

  /** Registers a check; a second check under the same name replaces the first. */
  add(name: string, check: ReadyCheck): void {
    this.checks.set(name, check)
  }

  /** Runs every check. */
  run(): Promise<CheckStatus[]> {
    return Promise.all([...this.checks].map(([name, check]) => runCheck(this.clock, name, check)))
  }
}

async function runCheck(clock: Clock, name: string, check: ReadyCheck): Promise<CheckStatus> {
  let timer: Timer | undefined
  const late = new Promise<CheckStatus>((resolve) => {
    timer = clock.setTimer(
      () => resolve({ name, ready: false, reason: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
      CHECK_TIMEOUT_MS,
    )
  })
  const verdict = (async (): Promise<CheckStatus> => {
    try {
      const out = await check()
      return out === false ? { name, ready: false, reason: 'check failed' } : { name, ready: true }
    } catch (err) {
      return { name, ready: false, reason: err instanceof Error ? err.message : String(err) }
    }
  })()
  try {
    return await Promise.race([verdict, late])
  } finally {
    clock.clearTimer(timer!)
  }
}
