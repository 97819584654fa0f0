import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * The edge suite, every contestant in its own process, rounds alternating:
 * - `sse/handwritten`: events fanned out to 1,000 server-sent-event clients (one client
 *   process), deliveries per second and p99 from emit to client, stoa's stream route (fed by
 *   `stoa.emit`) against a bare node:http broadcaster;
 * - `limited/open`: `POST /sum` with a rate limit on its action (memory store, a budget no run
 *   exhausts) against the same route unlimited, loaded by autocannon (100 connections);
 * - `graphql/web`: the same action as the GraphQL mutation `sum` against its web route.
 * `BENCH_SECONDS` (default 3), `BENCH_ROUNDS` (default 3), `BENCH_SSE_CLIENTS` (1000) and
 * `BENCH_SSE_EVENTS` (200) bound the run.
 */
export default async function edge(): Promise<void> {
  const seconds = process.env.BENCH_SECONDS ?? '3'
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const clients = process.env.BENCH_SSE_CLIENTS ?? '1000'
  const events = process.env.BENCH_SSE_EVENTS ?? '200'
  const contestants: Contestant[] = [
    { name: 'sse-stoa', file: 'edge/sse.ts', args: ['stoa', clients, events] },
    { name: 'sse-handwritten', file: 'edge/sse.ts', args: ['handwritten', clients, events] },
    { name: 'open', file: 'edge/cannon.ts', args: ['open', seconds] },
    { name: 'limited', file: 'edge/cannon.ts', args: ['limited', seconds] },
    { name: 'web', file: 'edge/cannon.ts', args: ['open', seconds] },
    { name: 'graphql', file: 'edge/cannon.ts', args: ['graphql', seconds] },
  ]
  const all = await alternate(contestants, rounds)
  const ops = Object.fromEntries(contestants.map((c) => [c.name, med(all, c.name, 'ops')]))
  const p99 = Object.fromEntries(contestants.map((c) => [c.name, sig(med(all, c.name, 'p99'))]))
  const spreads = Object.fromEntries(contestants.map((c) => [c.name, sig(spr(all, c.name, 'ops'))]))
  const errors = Object.fromEntries(
    contestants.map((c) => [c.name, Math.max(0, ...(all[c.name] ?? []).map((f) => f.errors ?? 0))]),
  )
  const r = (a: string, b: string) => sig(ops[a]! / ops[b]!)
  const ratios = {
    'sse/handwritten': r('sse-stoa', 'sse-handwritten'),
    'limited/open': r('limited', 'open'),
    'graphql/web': r('graphql', 'web'),
  }
  // Latency the other way round: the hand-written broadcaster's p99 over stoa's (≥ 1 is as fast).
  const p99Ratios = { 'sse/handwritten': sig(p99['sse-handwritten']! / p99['sse-stoa']!) }
  const table = [
    ['contestant', 'ops/s (median)', 'spread', 'p99 ms', 'errors'],
    ...contestants.map((c) => [
      c.name,
      String(sig(ops[c.name]!)),
      `${Math.round(spreads[c.name]! * 100)}%`,
      String(p99[c.name]),
      String(errors[c.name]),
    ]),
  ]
  report('edge', table, { ratios, p99Ratios, ops, p99, spreads, errors, rounds, seconds: Number(seconds) })
}
