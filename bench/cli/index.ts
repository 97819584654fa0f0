import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * CLI suite: the cold start of `stoa act` on an in-process action, wall time from spawn to
 * exit, against `node -e 0` (the floor no Node program goes below), the same act in a bare
 * script on the kernel (what the CLI itself adds), a Seneca script doing the same (the peer),
 * and `stoa act` on the service written in TypeScript (what tsx adds). Ratios are times over
 * the floor's or the peer's: lower is better, 1 is the floor itself. Needs `npm run build`.
 */
export default async function cli(): Promise<void> {
  const built = fileURLToPath(new URL('../../dist/bin/stoa.js', import.meta.url))
  if (!existsSync(built)) throw new Error('the cli suite runs the built CLI: run `npm run build` first')
  const names = ['node', 'stoa-once', 'seneca-once', 'stoa-act', 'stoa-act-ts']
  const contestants: Contestant[] = names.map((name) => ({ name, file: 'cli/worker.ts', args: [name] }))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const all = await alternate(contestants, rounds)
  const ms = (n: string) => med(all, n, 'ms')
  const table = [
    ['contestant', 'median ms (spawn to exit)', 'spread', 'x node -e 0'],
    ...names.map((n) => [
      n,
      String(sig(ms(n))),
      `${Math.round(spr(all, n, 'ms') * 100)}%`,
      String(sig(ms(n) / ms('node'))),
    ]),
  ]
  report('cli', table, {
    ratios: {
      'cli-cold/node': ms('stoa-act') / ms('node'),
      'stoa-act/stoa-once': ms('stoa-act') / ms('stoa-once'),
      'stoa-act/seneca-once': ms('stoa-act') / ms('seneca-once'),
      'stoa-act-ts/node': ms('stoa-act-ts') / ms('node'),
    },
    ops: Object.fromEntries(names.map((n) => [n, 1000 / ms(n)])),
    ms: Object.fromEntries(names.map((n) => [n, sig(ms(n))])),
    spread: Object.fromEntries(names.map((n) => [n, sig(spr(all, n, 'ms'))])),
    rounds,
    runsPerRound: Number(process.env.BENCH_CLI_RUNS ?? 5),
  })
}
