import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- vote`: the vote pipeline end to end on this machine. One gateway and one
 * tally worker, in separate processes, on the real broker and PostgreSQL: stoa's (the example's
 * own services) against the same pipeline written by hand on express + amqplib + jsonwebtoken +
 * pg with the same guarantees and the same SQL (confirmed persistent publishes, ack after
 * commit); and the embedded demo (one process, PGlite). `ops` is votes accepted and committed
 * per second end to end, `accepted` votes answered 202 per second; the CPU columns say where the
 * time goes, per vote.
 *
 * Environment: `BENCH_VOTE_ROUNDS` (default 2), `BENCH_VOTE_SECONDS` (load per run, default 5),
 * `BENCH_VOTE_ONLY=stoa,handwritten` (some contestants).
 */
const seconds = process.env.BENCH_VOTE_SECONDS ?? '5'
const contestants: Contestant[] = [
  { name: 'handwritten', file: 'vote/run.ts', args: ['handwritten', seconds] },
  { name: 'stoa', file: 'vote/run.ts', args: ['stoa', seconds] },
  { name: 'embedded', file: 'vote/run.ts', args: ['embedded', seconds] },
]

export default async function voteSuite(): Promise<void> {
  const only = process.env.BENCH_VOTE_ONLY?.split(',')
  const chosen = only === undefined ? contestants : contestants.filter((c) => only.includes(c.name))
  const all = await alternate(chosen, Number(process.env.BENCH_VOTE_ROUNDS ?? 2))
  const table = [
    [
      'contestant',
      'end-to-end votes/s',
      'spread',
      '202s/s',
      'p50 ms',
      'p99 ms',
      'gateway µs',
      'worker µs',
      'broker µs',
      'database µs',
    ],
  ]
  for (const c of chosen) {
    table.push([
      c.name,
      String(sig(med(all, c.name, 'ops'))),
      `${Math.round(spr(all, c.name, 'ops') * 100)}%`,
      String(sig(med(all, c.name, 'accepted'))),
      String(sig(med(all, c.name, 'p50'))),
      String(sig(med(all, c.name, 'p99'))),
      String(sig(med(all, c.name, 'gatewayCpuUs'))),
      c.name === 'embedded' ? '(in gateway)' : String(sig(med(all, c.name, 'workerCpuUs'))),
      c.name === 'embedded' ? '-' : String(sig(med(all, c.name, 'brokerCpuUs'))),
      String(sig(med(all, c.name, 'databaseCpuUs'))),
    ])
  }
  const ops: Record<string, number> = {}
  const ratios: Record<string, number> = {}
  const has = (n: string) => (all[n]?.length ?? 0) > 0
  if (has('stoa')) ops['vote/stoa'] = med(all, 'stoa', 'ops')
  if (has('handwritten')) ops['vote/handwritten'] = med(all, 'handwritten', 'ops')
  if (has('embedded')) ops['vote-embedded'] = med(all, 'embedded', 'ops')
  if (has('stoa') && has('handwritten')) {
    ratios['vote/handwritten'] = ops['vote/stoa']! / ops['vote/handwritten']!
    ratios['accepted/handwritten'] = med(all, 'stoa', 'accepted') / med(all, 'handwritten', 'accepted')
  }
  const cpuUs = Object.fromEntries(
    chosen.map((c) => [
      c.name,
      {
        gateway: sig(med(all, c.name, 'gatewayCpuUs')),
        worker: sig(med(all, c.name, 'workerCpuUs')),
        broker: sig(med(all, c.name, 'brokerCpuUs')),
        database: sig(med(all, c.name, 'databaseCpuUs')),
      },
    ]),
  )
  report('vote', table, { ratios, ops, cpuUs })
}
