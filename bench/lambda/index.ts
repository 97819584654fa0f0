import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Lambda suite: the handler's own cost per API Gateway HTTP API (payload 2.0) event, stoa's
 * `lambdaHandler` over a service with one web route against a hand-written handler answering
 * the same route directly, each in its own process, awaited one event at a time as the Lambda
 * runtime invokes; `web-floor`, the web plugin's own steps for that request alone (route
 * match, body parse, handleWebRequest), the least the handler can cost; and the cold init time
 * of each handler module (import plus, for stoa, the service's start), each run in a fresh
 * process. Needs `npm run build`.
 */
export default async function lambda(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL('../../dist/transports/lambda/index.js', import.meta.url)))) {
    throw new Error('the lambda suite runs the built library: run `npm run build` first')
  }
  const names = ['handwritten', 'stoa', 'web-floor', 'cold-handwritten', 'cold-stoa']
  const contestants: Contestant[] = names.map((name) => ({ name, file: 'lambda/worker.ts', args: [name] }))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const all = await alternate(contestants, rounds)
  const ops = (n: string) => med(all, n, 'ops')
  const coldMs = (n: string) => med(all, n, 'ms')
  const table = [
    ['contestant', 'events/s (API Gateway v2)', 'spread', 'x handwritten'],
    ...['handwritten', 'stoa', 'web-floor'].map((n) => [
      n,
      String(sig(ops(n))),
      `${Math.round(spr(all, n, 'ops') * 100)}%`,
      String(sig(ops(n) / ops('handwritten'))),
    ]),
    ['cold init', 'median ms', 'spread', ''],
    ...['cold-handwritten', 'cold-stoa'].map((n) => [
      n,
      String(sig(coldMs(n))),
      `${Math.round(spr(all, n, 'ms') * 100)}%`,
      '',
    ]),
  ]
  report('lambda', table, {
    ratios: {
      'lambda-apigw/handwritten': ops('stoa') / ops('handwritten'),
      'web-floor/handwritten': ops('web-floor') / ops('handwritten'),
    },
    ops: { stoa: ops('stoa'), handwritten: ops('handwritten'), 'web-floor': ops('web-floor') },
    coldInitMs: { stoa: sig(coldMs('cold-stoa')), handwritten: sig(coldMs('cold-handwritten')) },
    spread: Object.fromEntries(names.map((n) => [n, sig(spr(all, n, n.startsWith('cold-') ? 'ms' : 'ops'))])),
    rounds,
  })
}
