import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * `npm run bench -- nats`: RPC latency (p50/p99, sequential) and throughput (100 in flight),
 * and confirmed, stored, acknowledged task throughput, client and server in separate processes
 * against the real server. stoa on its defaults against raw nats.js doing the same work (the
 * practical limit) and Moleculer's NATS transporter. Ratios are stoa's figure over the
 * other's: above 1, stoa is faster. Targets: `rpc/raw-nats` and `tasks/raw-nats` at least
 * 0.85, `rpc/moleculer-nats` at least 1.2. Beside each contestant's client CPU per act, its
 * responder's (`server µs`, from /proc): the two share the cores with nats-server.
 *
 * Environment: `BENCH_NATS_ROUNDS` (default 3), `BENCH_NATS_ONLY=raw-nats,stoa` (some
 * contestants); the phase length and task count are the AMQP suite's (`BENCH_AMQP_MS`,
 * `BENCH_AMQP_TASKS`).
 */
const contestants: Contestant[] = [
  { name: 'raw-nats', file: 'nats/raw.ts' },
  { name: 'stoa', file: 'nats/stoa.ts' },
  { name: 'moleculer-nats', file: 'nats/moleculer.ts' },
]

export default async function natsSuite(): Promise<void> {
  const only = process.env.BENCH_NATS_ONLY?.split(',')
  const chosen = only === undefined ? contestants : contestants.filter((c) => only.includes(c.name))
  const all = await alternate(chosen, Number(process.env.BENCH_NATS_ROUNDS ?? 3))
  const missing = (name: string) => (all[name] ?? []).some((f) => f.missing === 1)
  const ran = chosen.filter((c) => !missing(c.name))
  const has = (name: string) => ran.some((c) => c.name === name)
  const table = [
    ['contestant', 'rpc ops/s', 'spread', 'p50 ms', 'p99 ms', 'rpc cpu µs', 'server µs', 'tasks msg/s', 'spread'],
  ]
  for (const c of ran) {
    const tasks = c.name !== 'moleculer-nats'
    table.push([
      c.name,
      String(sig(med(all, c.name, 'rpcOps'))),
      `${Math.round(spr(all, c.name, 'rpcOps') * 100)}%`,
      String(sig(med(all, c.name, 'rpcP50Ms'))),
      String(sig(med(all, c.name, 'rpcP99Ms'))),
      String(sig(med(all, c.name, 'rpcCpuUs'))),
      String(sig(med(all, c.name, 'rpcServerCpuUs'))),
      tasks ? String(sig(med(all, c.name, 'taskOps'))) : '-',
      tasks ? `${Math.round(spr(all, c.name, 'taskOps') * 100)}%` : '-',
    ])
  }
  for (const c of chosen.filter((c) => missing(c.name)))
    table.push([`${c.name} (not run: the nats package is not installed)`, '-', '-', '-', '-', '-', '-', '-', '-'])
  const ratios: Record<string, number> = {}
  const ops: Record<string, number> = {}
  for (const c of ran) {
    ops[`rpc/${c.name}`] = med(all, c.name, 'rpcOps')
    if (c.name !== 'stoa' && has('stoa')) ratios[`rpc/${c.name}`] = med(all, 'stoa', 'rpcOps') / ops[`rpc/${c.name}`]!
  }
  if (has('raw-nats') && has('stoa')) {
    ops['tasks/raw-nats'] = med(all, 'raw-nats', 'taskOps')
    ops['tasks/stoa'] = med(all, 'stoa', 'taskOps')
    ratios['tasks/raw-nats'] = ops['tasks/stoa'] / ops['tasks/raw-nats']
    ratios['p50/raw-nats'] = med(all, 'raw-nats', 'rpcP50Ms') / med(all, 'stoa', 'rpcP50Ms')
  }
  const cpuUs = Object.fromEntries(
    ran.map((c) => [
      c.name,
      { client: sig(med(all, c.name, 'rpcCpuUs')), server: sig(med(all, c.name, 'rpcServerCpuUs')) },
    ]),
  )
  const latency = Object.fromEntries(
    ran.map((c) => [c.name, { p50Ms: sig(med(all, c.name, 'rpcP50Ms')), p99Ms: sig(med(all, c.name, 'rpcP99Ms')) }]),
  )
  report('nats', table, {
    ratios,
    ops,
    latency,
    cpuUs,
    notRun: chosen.filter((c) => missing(c.name)).map((c) => c.name),
  })
}
