import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * The identity suite, every contestant in its own process, rounds alternating:
 * - per act, in process: a protected action acted on with a token, verified on every act with
 *   HS256 and RS256 (cache off), or remembered (`hs256-cached`, the default), against the same
 *   action with neither plugin (`open`); the difference is the cost of a verification;
 * - a web route (`GET /sum`, stoa's web plugin on express), loaded by autocannon with 100
 *   connections sending `Authorization: Bearer`: with the jwt (HS256) and authz plugins on
 *   (`jwt`, default cache; `jwt-nocache`, verifying every request) against off (`open`).
 * Target: `jwt-route/open-route` >= 0.85. `BENCH_SECONDS` (default 3), `BENCH_ROUNDS` (3) and
 * `BENCH_MS` (1500) bound the run.
 */
export default async function identity(): Promise<void> {
  const seconds = process.env.BENCH_SECONDS ?? '3'
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const acts = ['open', 'hs256', 'rs256', 'hs256-cached']
  const routes = ['open', 'jwt', 'jwt-nocache']
  const contestants: Contestant[] = [
    ...acts.map((kind) => ({ name: `act-${kind}`, file: 'identity/act.ts', args: [kind] })),
    ...routes.map((kind) => ({ name: `${kind}-route`, file: 'identity/cannon.ts', args: [kind, seconds] })),
  ]
  const all = await alternate(contestants, rounds)
  const ops = Object.fromEntries(contestants.map((c) => [c.name, med(all, c.name, 'ops')]))
  // The time one verification adds to an act, in microseconds: 1/ops(protected) - 1/ops(open).
  const addedUs = (name: string) => (1 / ops[name]! - 1 / ops['act-open']!) * 1e6
  const perVerify = {
    'hs256-us-per-verify': sig(addedUs('act-hs256')),
    'rs256-us-per-verify': sig(addedUs('act-rs256')),
    'hs256-cached-us-per-act': sig(addedUs('act-hs256-cached')),
  }
  const ratios = {
    'jwt-route/open-route': ops['jwt-route']! / ops['open-route']!,
    'jwt-nocache-route/open-route': ops['jwt-nocache-route']! / ops['open-route']!,
    'act-hs256/act-open': ops['act-hs256']! / ops['act-open']!,
    'act-rs256/act-open': ops['act-rs256']! / ops['act-open']!,
    'act-hs256-cached/act-open': ops['act-hs256-cached']! / ops['act-open']!,
  }
  const spreads = Object.fromEntries(contestants.map((c) => [c.name, sig(spr(all, c.name, 'ops'))]))
  const errors = Object.fromEntries(
    contestants.map((c) => [c.name, Math.max(0, ...(all[c.name] ?? []).map((f) => f.errors ?? 0))]),
  )
  const table = [
    ['contestant', 'ops/s (median)', 'spread', 'errors'],
    ...contestants.map((c) => [
      c.name,
      String(sig(ops[c.name]!)),
      `${Math.round(spreads[c.name]! * 100)}%`,
      String(errors[c.name]),
    ]),
    ...Object.entries(perVerify).map(([k, v]) => [k, String(v), '', '']),
  ]
  report('identity', table, { ratios, ops, ...perVerify, spreads, errors, rounds, seconds: Number(seconds) })
}
