import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Observability suite: what metrics (prom-client), logging (pino at `info`) and tracing (the
 * OpenTelemetry API, no SDK) cost when all are on, against all off, in the same run:
 * - `observed` / `bare`: kernel act throughput, sequential and 1000 concurrent, 100 patterns;
 * - `observed-web` / `bare-web`: the web plugin's `GET /sum` route under autocannon, 100
 *   connections, the observed server also counting responses by route and serving /metrics.
 * Every contestant runs in its own process, alternating over `BENCH_ROUNDS` rounds (default 5
 * for the kernel, 3 for the web); `BENCH_SECONDS` (default 3) is each web load's length.
 * - `moleculer-observed`: the same acts on Moleculer with its metrics and tracing on, the peer
 *   a user would otherwise pick (`observed/moleculer-observed`, target 3).
 * Targets: `observed/bare` at least 0.6, 0.9 retained on the web route.
 */
export default async function observability(): Promise<void> {
  const seconds = process.env.BENCH_SECONDS ?? '3'
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const kernel: Contestant[] = ['bare', 'observed', 'moleculer-observed'].map((name) => ({
    name,
    file: 'observability/worker.ts',
    args: [name],
  }))
  const webs: Contestant[] = ['bare-web', 'observed-web'].map((name) => ({
    name,
    file: 'observability/cannon.ts',
    args: [name, seconds],
  }))
  const all = {
    ...(await alternate(kernel, rounds)),
    ...(await alternate(webs, Math.max(1, Math.min(rounds, Number(process.env.BENCH_ROUNDS ?? 3))))),
  }
  const seq = (n: string) => med(all, n, 'seq')
  const conc = (n: string) => med(all, n, 'conc')
  const web = (n: string) => med(all, n, 'ops')
  const table = [
    ['contestant', 'sequential acts/s', 'spread', '1000-concurrent acts/s', 'spread'],
    ...['bare', 'observed', 'moleculer-observed'].map((n) => [
      n,
      String(sig(seq(n))),
      `${Math.round(spr(all, n, 'seq') * 100)}%`,
      String(sig(conc(n))),
      `${Math.round(spr(all, n, 'conc') * 100)}%`,
    ]),
    ['', '', '', '', ''],
    ['contestant', 'web req/s', 'spread', 'p99 ms', ''],
    ...['bare-web', 'observed-web'].map((n) => [
      n,
      String(sig(web(n))),
      `${Math.round(spr(all, n, 'ops') * 100)}%`,
      String(med(all, n, 'p99')),
      '',
    ]),
  ]
  report('observability', table, {
    ratios: {
      'observed/bare': seq('observed') / seq('bare'),
      'observed/moleculer-observed': seq('observed') / seq('moleculer-observed'),
      'observed-concurrent/bare-concurrent': conc('observed') / conc('bare'),
      'observed-web/bare-web': web('observed-web') / web('bare-web'),
    },
    ops: {
      'bare.seq': seq('bare'),
      'observed.seq': seq('observed'),
      'bare.conc': conc('bare'),
      'observed.conc': conc('observed'),
      'moleculer-observed.seq': seq('moleculer-observed'),
      'moleculer-observed.conc': conc('moleculer-observed'),
      'bare-web': web('bare-web'),
      'observed-web': web('observed-web'),
    },
    spread: Object.fromEntries(
      ['bare', 'observed', 'moleculer-observed', 'bare-web', 'observed-web'].map((n) => [
        n,
        sig(spr(all, n, n.endsWith('web') ? 'ops' : 'seq')),
      ]),
    ),
    rounds,
    seconds: Number(seconds),
  })
}
