import { startRabbitCluster } from '../../test/fixtures/rabbit-cluster.js'
import type { Contestant, Figures } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- scale`: the distributed vote system end to end (autocannon → nginx → N
 * gateways → RabbitMQ → M tally workers → PostgreSQL, results and auth beside them) with 1, 2 and
 * 4 gateways and 1, 2 and 4 workers, the tally batched (up to 100 votes a transaction) and
 * unbatched (one), and in the same run raw amqplib's confirmed persistent publish-and-consume
 * rate on the same broker: the broker's own limit here. The broker is a RabbitMQ node this suite
 * starts for itself (quorum queues, as the vote cluster uses), so its CPU is this suite's alone.
 * Every configuration runs in its own process, the rounds alternate. Per vote, the CPU of each
 * part says where the time goes; the busiest process of each part, as a share of one core, says
 * which part is saturated.
 *
 * Keys: `vote/raw-broker` (the best configuration's committed votes/s ÷ the raw broker rate) and
 * `batched/unbatched` (the same gateway and worker counts, batched ÷ unbatched).
 *
 * Environment: `BENCH_SCALE_GATEWAYS` (default `1,2,4`), `BENCH_SCALE_WORKERS` (`1,2,4`),
 * `BENCH_SCALE_MODES` (`batched,unbatched`), `BENCH_SCALE_ROUNDS` (1), `BENCH_SCALE_SECONDS`
 * (load per run, 5).
 */
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').filter((s) => s !== '')
const PARTS = ['loadgen', 'nginx', 'gateways', 'workers', 'services', 'broker', 'database'] as const

export default async function scaleSuite(): Promise<void> {
  const seconds = process.env.BENCH_SCALE_SECONDS ?? '5'
  const modes = list('BENCH_SCALE_MODES', 'batched,unbatched')
  const configs: Contestant[] = []
  for (const mode of modes)
    for (const g of list('BENCH_SCALE_GATEWAYS', '1,2,4'))
      for (const w of list('BENCH_SCALE_WORKERS', '1,2,4'))
        configs.push({ name: `${g}g×${w}w ${mode}`, file: 'scale/run.ts', args: ['stoa', g, w, mode, seconds] })
  const rabbit = await startRabbitCluster(1, 'benchscale')
  let all: Record<string, Figures[]>
  try {
    const env = { AMQP_URL: rabbit.url, BROKER_PID: String(rabbit.nodes[0]!.pid) }
    const contestants: Contestant[] = [
      { name: 'raw broker', file: 'scale/run.ts', args: ['raw', seconds], env },
      ...configs.map((c) => ({ ...c, env })),
    ]
    all = await alternate(contestants, Number(process.env.BENCH_SCALE_ROUNDS ?? 1), 300_000)
  } finally {
    await rabbit.close()
  }
  const names = ['raw broker', ...configs.map((c) => c.name)]
  const table = [
    [
      'configuration',
      'committed/s',
      'spread',
      '202s/s',
      'p99 ms',
      ...PARTS.map((p) => `${p} µs`),
      'busiest (core share)',
    ],
  ]
  const busiest = (name: string) => {
    const shares = PARTS.map((p) => [p, med(all, name, `${p}Core`)] as const).filter(([, v]) => Number.isFinite(v))
    const top = shares.sort((a, b) => b[1] - a[1])[0]
    return top === undefined ? '-' : `${top[0]} ${top[1].toFixed(2)}`
  }
  for (const name of names) {
    table.push([
      name,
      String(sig(med(all, name, 'ops'))),
      `${Math.round(spr(all, name, 'ops') * 100)}%`,
      String(sig(med(all, name, 'accepted'))),
      name === 'raw broker' ? '-' : String(sig(med(all, name, 'p99'))),
      ...PARTS.map((p) => {
        const v = med(all, name, `${p}CpuUs`)
        return Number.isFinite(v) ? String(sig(v)) : '-'
      }),
      busiest(name),
    ])
  }
  const ops: Record<string, number> = Object.fromEntries(names.map((n) => [`scale/${n}`, med(all, n, 'ops')]))
  const stoaNames = configs.map((c) => c.name)
  const best = stoaNames.reduce((a, b) => (med(all, b, 'ops') > med(all, a, 'ops') ? b : a), stoaNames[0]!)
  const ratios: Record<string, number> = {}
  const rawRate = med(all, 'raw broker', 'ops')
  if (best !== undefined && Number.isFinite(rawRate)) ratios['vote/raw-broker'] = med(all, best, 'ops') / rawRate
  // The same counts, batched against unbatched: the best batched configuration's counts.
  const bestBatched = stoaNames
    .filter((n) => n.endsWith(' batched'))
    .reduce<string | undefined>(
      (a, b) => (a === undefined || med(all, b, 'ops') > med(all, a, 'ops') ? b : a),
      undefined,
    )
  const twin = bestBatched?.replace(/ batched$/, ' unbatched')
  if (bestBatched !== undefined && twin !== undefined && (all[twin]?.length ?? 0) > 0)
    ratios['batched/unbatched'] = med(all, bestBatched, 'ops') / med(all, twin, 'ops')
  const cpuUs = Object.fromEntries(
    names.map((n) => [n, Object.fromEntries(PARTS.map((p) => [p, sig(med(all, n, `${p}CpuUs`))]))]),
  )
  report('scale', table, { ratios, ops, best, cpuUs, targets: { 'vote/raw-broker': 0.25, 'batched/unbatched': 2 } })
}
