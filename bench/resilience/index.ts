import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Resilience suite: what the bulkhead and the circuit breaker cost on the call path when they
 * do nothing but watch. `local` is an in-process act of an async action, `local-bulkhead` the
 * same behind a limit it never reaches; `remote` an act through the in-process memory
 * transport (no network to hide the cost under), `remote-breaker` the same through the
 * breaker plugin (cockatiel), closed.
 */
export default async function resilience(): Promise<void> {
  const names = ['local', 'local-bulkhead', 'remote', 'remote-breaker']
  const contestants: Contestant[] = names.map((name) => ({
    name,
    file: 'resilience/worker.ts',
    args: [name],
    env: { BENCH_MS: process.env.BENCH_MS ?? '1500' },
  }))
  const all = await alternate(contestants, Number(process.env.BENCH_ROUNDS ?? 5))
  const seq = (n: string) => med(all, n, 'seq')
  const conc = (n: string) => med(all, n, 'conc')
  const nsMore = (a: string, b: string) => (1 / seq(a) - 1 / seq(b)) * 1e9
  const table = [
    ['contestant', 'sequential ops/s', 'spread', '1000-concurrent ops/s', 'spread'],
    ...names.map((n) => [
      n,
      String(sig(seq(n))),
      `${Math.round(spr(all, n, 'seq') * 100)}%`,
      String(sig(conc(n))),
      `${Math.round(spr(all, n, 'conc') * 100)}%`,
    ]),
    ['bulkhead cost per act (ns, sequential)', String(sig(nsMore('local-bulkhead', 'local'))), '', '', ''],
    ['breaker cost per remote act (ns, sequential)', String(sig(nsMore('remote-breaker', 'remote'))), '', '', ''],
  ]
  report('resilience', table, {
    ratios: {
      'local-bulkhead/local': seq('local-bulkhead') / seq('local'),
      'remote-breaker/remote': seq('remote-breaker') / seq('remote'),
    },
    ops: Object.fromEntries(names.map((n) => [n, seq(n)])),
  })
}
