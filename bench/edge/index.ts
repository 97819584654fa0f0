import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * The edge suite, every contestant in its own process, rounds alternating:
 * - `sse/handwritten`: events fanned out to 1,000 server-sent-event clients (one client
 *   process), deliveries per second and p99 from emit to client, stoa's stream route (fed by
 *   `stoa.emit`) against a bare node:http broadcaster;
 * - `limited/open`: `POST /sum` with a rate limit on its action (memory store, a budget no run
 *   exhausts) against the same route unlimited, loaded by autocannon (100 connections);
 * - `limited/open:pipeline`: the same two routes answered by the web pipeline in one process,
 *   with no socket (pipeline.ts): the limiter's own cost, which a loaded machine blurs;
 * - `graphql/web`: the same action as the GraphQL mutation `sum` against its web route.
 * Each contestant reports the CPU its server used per request (`cpuUs`); `cpuRatios` put the
 * unlimited one's over the limited one's (≥ 1: the limit costs nothing). `BENCH_SECONDS`
 * (default 3), `BENCH_ROUNDS` (default 3), `BENCH_SSE_CLIENTS` (1000) and `BENCH_SSE_EVENTS`
 * (200) bound the run; `BENCH_EDGE` (`sse,limited,graphql`) picks the parts.
 */
export default async function edge(): Promise<void> {
  const seconds = process.env.BENCH_SECONDS ?? '3'
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const clients = process.env.BENCH_SSE_CLIENTS ?? '1000'
  const events = process.env.BENCH_SSE_EVENTS ?? '200'
  const parts = new Set((process.env.BENCH_EDGE ?? 'sse,limited,graphql').split(','))
  const contestants: Contestant[] = [
    ...(parts.has('sse')
      ? [
          { name: 'sse-stoa', file: 'edge/sse.ts', args: ['stoa', clients, events] },
          { name: 'sse-handwritten', file: 'edge/sse.ts', args: ['handwritten', clients, events] },
        ]
      : []),
    ...(parts.has('limited')
      ? [
          { name: 'open', file: 'edge/cannon.ts', args: ['open', seconds] },
          { name: 'limited', file: 'edge/cannon.ts', args: ['limited', seconds] },
          { name: 'pipeline-open', file: 'edge/pipeline.ts', args: ['open', seconds] },
          { name: 'pipeline-limited', file: 'edge/pipeline.ts', args: ['limited', seconds] },
        ]
      : []),
    ...(parts.has('graphql')
      ? [
          { name: 'web', file: 'edge/cannon.ts', args: ['open', seconds] },
          { name: 'graphql', file: 'edge/cannon.ts', args: ['graphql', seconds] },
        ]
      : []),
  ]
  const all = await alternate(contestants, rounds)
  const ops = Object.fromEntries(contestants.map((c) => [c.name, med(all, c.name, 'ops')]))
  const p99 = Object.fromEntries(contestants.map((c) => [c.name, sig(med(all, c.name, 'p99'))]))
  const spreads = Object.fromEntries(contestants.map((c) => [c.name, sig(spr(all, c.name, 'ops'))]))
  const errors = Object.fromEntries(
    contestants.map((c) => [c.name, Math.max(0, ...(all[c.name] ?? []).map((f) => f.errors ?? 0))]),
  )
  const cpuUs = Object.fromEntries(contestants.map((c) => [c.name, sig(med(all, c.name, 'cpuUs'))]))
  // Only the pairs this run measured.
  const pairs = (list: [string, string, string][], of: (a: string, b: string) => number) =>
    Object.fromEntries(
      list.filter(([, a, b]) => all[a] !== undefined && all[b] !== undefined).map(([k, a, b]) => [k, of(a, b)]),
    )
  const ratios = pairs(
    [
      ['sse/handwritten', 'sse-stoa', 'sse-handwritten'],
      ['limited/open', 'limited', 'open'],
      ['limited/open:pipeline', 'pipeline-limited', 'pipeline-open'],
      ['graphql/web', 'graphql', 'web'],
    ],
    (a, b) => sig(ops[a]! / ops[b]!),
  )
  const cpuRatios = pairs(
    [
      ['limited/open', 'limited', 'open'],
      ['limited/open:pipeline', 'pipeline-limited', 'pipeline-open'],
    ],
    (a, b) => sig(cpuUs[b]! / cpuUs[a]!),
  )
  // Latency the other way round: the hand-written broadcaster's p99 over stoa's (≥ 1 is as fast).
  const p99Ratios = pairs([['sse/handwritten', 'sse-handwritten', 'sse-stoa']], (a, b) => sig(p99[a]! / p99[b]!))
  const table = [
    ['contestant', 'ops/s (median)', 'spread', 'cpu µs/op', 'p99 ms', 'errors'],
    ...contestants.map((c) => [
      c.name,
      String(sig(ops[c.name]!)),
      `${Math.round(spreads[c.name]! * 100)}%`,
      Number.isFinite(cpuUs[c.name]) ? String(cpuUs[c.name]) : '-',
      Number.isFinite(p99[c.name]) ? String(p99[c.name]) : '-',
      String(errors[c.name]),
    ]),
  ]
  report('edge', table, {
    ratios,
    cpuRatios,
    p99Ratios,
    ops,
    cpuUs,
    p99,
    spreads,
    errors,
    rounds,
    seconds: Number(seconds),
  })
}
