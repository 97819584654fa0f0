import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Kernel suite: sequential and 1000-concurrent act throughput with 100 registered patterns, for
 * stoa, Moleculer's local `broker.call`, Seneca's `act` and a bare awaited function; the lookup
 * alone for stoa's router and patrun; the cost of schema validation; memory after 1M acts; the
 * call path with a plugin that adds no hook (`stoa-hooks-0`) and with three pass-through inbound
 * hooks (`stoa-hooks-3`). The
 * headline ratios use synchronous handlers, as the targets do; `-async` contestants run
 * handlers that return promises, which take the deadline-watching path; `stoa-string` acts with
 * a pattern string and data, `act('role:bench,cmd:c42', { left, right })`, as the README does.
 */
export default async function kernel(): Promise<void> {
  const names = [
    'bare',
    'stoa',
    'stoa-hooks-0',
    'stoa-hooks-3',
    'stoa-string',
    'moleculer',
    'stoa-async',
    'moleculer-async',
    'stoa-schema',
    'stoa-result',
    'router',
    'patrun',
    'seneca',
  ]
  const contestants: Contestant[] = names.map((name) => ({
    name,
    file: 'kernel/worker.ts',
    args: [name],
    env: { BENCH_MS: name === 'seneca' ? '800' : (process.env.BENCH_MS ?? '1500') },
  }))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const all = await alternate(contestants, rounds)
  const seq = (n: string) => med(all, n, 'seq')
  const conc = (n: string) => med(all, n, 'conc')
  const table = [
    ['contestant', 'sequential ops/s', 'spread', '1000-concurrent ops/s', 'spread'],
    ...names.map((n) => [
      n,
      String(sig(seq(n))),
      `${Math.round(spr(all, n, 'seq') * 100)}%`,
      String(sig(conc(n))),
      `${Math.round(spr(all, n, 'conc') * 100)}%`,
    ]),
  ]
  const schemaNsPerAct = (1 / seq('stoa-schema') - 1 / seq('stoa')) * 1e9
  const resultNsPerAct = (1 / seq('stoa-result') - 1 / seq('stoa-schema')) * 1e9
  const retained = med(all, 'stoa', 'retainedBytesPer1M')
  table.push(['schema validation cost per act (ns, zod 4, sequential)', String(sig(schemaNsPerAct)), '', '', ''])
  table.push(['result check cost per act (ns, zod 4, checkResults on)', String(sig(resultNsPerAct)), '', '', ''])
  table.push([
    'heap retained after 1M acts (bytes, after GC)',
    String(sig(retained)),
    '',
    `rss ${sig(med(all, 'stoa', 'rssMB'))} MB`,
    '',
  ])
  report('kernel', table, {
    ratios: {
      'stoa/moleculer': seq('stoa') / seq('moleculer'),
      'stoa/bare': seq('stoa') / seq('bare'),
      'stoa-hooks-0/stoa': seq('stoa-hooks-0') / seq('stoa'),
      'stoa-hooks-3/stoa': seq('stoa-hooks-3') / seq('stoa'),
      'stoa/seneca': seq('stoa') / seq('seneca'),
      'stoa-concurrent/moleculer-concurrent': conc('stoa') / conc('moleculer'),
      'stoa-async/moleculer-async': seq('stoa-async') / seq('moleculer-async'),
      'stoa-string/moleculer': seq('stoa-string') / seq('moleculer'),
      'router/patrun': seq('router') / seq('patrun'),
    },
    ops: Object.fromEntries(
      names.flatMap((n) => [
        [`${n}.seq`, seq(n)],
        [`${n}.conc`, conc(n)],
      ]),
    ),
    spread: Object.fromEntries(names.map((n) => [n, sig(spr(all, n, 'seq'))])),
    schemaNsPerAct: sig(schemaNsPerAct),
    resultNsPerAct: sig(resultNsPerAct),
    retainedBytesPer1M: retained,
    rounds,
  })
}
