import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- amqp`: RPC latency (p50/p99, sequential) and throughput (100 in flight),
 * and confirmed, persistent, acknowledged task throughput, client and server in separate
 * processes against the real broker. stoa on its defaults against raw amqplib doing the same
 * work (the practical limit), Moleculer's AMQP transporter (its defaults, and tuned with
 * prefetch 100 and noDelay) and seneca-amqp-transport (its defaults, and with noDelay).
 * Ratios are stoa's figure over the other's: above 1, stoa is faster. `clientCpuUs` is the
 * client process's CPU per operation, steadier than throughput on a shared machine;
 * `amqp-client-cpu/raw` is stoa's over raw amqplib's per RPC (lower is better).
 *
 * Environment: `BENCH_AMQP_ROUNDS` (default 3), `BENCH_AMQP_ONLY=raw,stoa` (some contestants),
 * `BENCH_AMQP_MS` (length of each timed phase, default 2000), `BENCH_AMQP_TASKS` (tasks per
 * run, default 20 000), `BENCH_AMQP_PROF=<dir>` (CPU profiles of the server processes).
 */
const contestants: Contestant[] = [
  { name: 'raw', file: 'amqp/raw.ts' },
  { name: 'stoa', file: 'amqp/stoa.ts' },
  { name: 'moleculer-tuned', file: 'amqp/moleculer.ts', args: ['tuned'] },
  { name: 'moleculer-default', file: 'amqp/moleculer.ts', args: ['default'] },
  { name: 'seneca-nodelay', file: 'amqp/seneca.ts', args: ['nodelay'] },
  { name: 'seneca-default', file: 'amqp/seneca.ts', args: ['default'] },
]

export default async function amqpSuite(): Promise<void> {
  const only = process.env.BENCH_AMQP_ONLY?.split(',')
  const chosen = only === undefined ? contestants : contestants.filter((c) => only.includes(c.name))
  const all = await alternate(chosen, Number(process.env.BENCH_AMQP_ROUNDS ?? 3))
  const has = (name: string) => (all[name]?.length ?? 0) > 0
  const table = [
    ['contestant', 'rpc ops/s', 'spread', 'p50 ms', 'p99 ms', 'rpc cpu µs', 'tasks msg/s', 'spread', 'task cpu µs'],
  ]
  for (const c of chosen) {
    const tasks = c.name === 'raw' || c.name === 'stoa'
    table.push([
      c.name,
      String(sig(med(all, c.name, 'rpcOps'))),
      `${Math.round(spr(all, c.name, 'rpcOps') * 100)}%`,
      String(sig(med(all, c.name, 'rpcP50Ms'))),
      String(sig(med(all, c.name, 'rpcP99Ms'))),
      String(sig(med(all, c.name, 'rpcCpuUs'))),
      tasks ? String(sig(med(all, c.name, 'taskOps'))) : '-',
      tasks ? `${Math.round(spr(all, c.name, 'taskOps') * 100)}%` : '-',
      tasks ? String(sig(med(all, c.name, 'taskCpuUs'))) : '-',
    ])
  }
  const ratios: Record<string, number> = {}
  const ops: Record<string, number> = {}
  const stoaRpc = med(all, 'stoa', 'rpcOps')
  for (const c of chosen) {
    ops[`rpc/${c.name}`] = med(all, c.name, 'rpcOps')
    if (c.name !== 'stoa' && has('stoa')) ratios[`rpc/${c.name}`] = stoaRpc / med(all, c.name, 'rpcOps')
  }
  if (has('raw') && has('stoa')) {
    ops['tasks/raw'] = med(all, 'raw', 'taskOps')
    ops['tasks/stoa'] = med(all, 'stoa', 'taskOps')
    ratios['tasks/raw'] = ops['tasks/stoa'] / ops['tasks/raw']
    ratios['p50/raw'] = med(all, 'raw', 'rpcP50Ms') / med(all, 'stoa', 'rpcP50Ms')
    // Lower is better here: stoa's client CPU per RPC over raw amqplib's (target at most 1.2).
    ratios['amqp-client-cpu/raw'] = med(all, 'stoa', 'rpcCpuUs') / med(all, 'raw', 'rpcCpuUs')
  }
  const latency = Object.fromEntries(
    chosen.map((c) => [c.name, { p50Ms: sig(med(all, c.name, 'rpcP50Ms')), p99Ms: sig(med(all, c.name, 'rpcP99Ms')) }]),
  )
  const spreads = Object.fromEntries(chosen.map((c) => [`rpc/${c.name}`, sig(spr(all, c.name, 'rpcOps'))]))
  if (has('raw') && has('stoa')) {
    spreads['tasks/raw'] = sig(spr(all, 'raw', 'taskOps'))
    spreads['tasks/stoa'] = sig(spr(all, 'stoa', 'taskOps'))
  }
  const clientCpuUs = Object.fromEntries(
    chosen.map((c) => {
      const rpc = sig(med(all, c.name, 'rpcCpuUs'))
      return [
        c.name,
        c.name === 'raw' || c.name === 'stoa' ? { rpc, tasks: sig(med(all, c.name, 'taskCpuUs')) } : { rpc },
      ]
    }),
  )
  report('amqp', table, { ratios, ops, latency, spreads, clientCpuUs })
}
