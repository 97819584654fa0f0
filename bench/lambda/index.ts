import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Lambda suite: the handler's own cost per API Gateway HTTP API (payload 2.0) event, stoa's
 * `lambdaHandler` over a service with one web route against hono's own adapter
 * (`hono/aws-lambda`) serving the same route, and a hand-written handler answering it directly, each in its own process, awaited one event at a time as the Lambda
 * runtime invokes; `web-floor`, the web plugin's own steps for that request alone (route
 * match, body parse, handleWebRequest), the least the handler can cost; and the cold init time
 * of each handler module (import plus, for stoa, the service's start), each run in a fresh
 * process. Needs `npm run build`.
 */
export default async function lambda(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL('../../dist/transports/lambda/index.js', import.meta.url)))) {
    throw new Error('the lambda suite runs the built library: run `npm run build` first')
  }
  const names = ['handwritten', 'stoa', 'hono', 'web-floor', 'cold-handwritten', 'cold-stoa', 'cold-hono']
  const contestants: Contestant[] = names.map((name) => ({ name, file: 'lambda/worker.ts', args: [name] }))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const all = await alternate(contestants, rounds)
  const ops = (n: string) => med(all, n, 'ops')
  const coldMs = (n: string) => med(all, n, 'ms')
  const table = [
    ['contestant', 'events/s (API Gateway v2)', 'spread', 'x handwritten'],
    ...['handwritten', 'stoa', 'hono', 'web-floor'].map((n) => [
      n,
      String(sig(ops(n))),
      `${Math.round(spr(all, n, 'ops') * 100)}%`,
      String(sig(ops(n) / ops('handwritten'))),
    ]),
    ['cold init', 'median ms', 'spread', ''],
    ...['cold-handwritten', 'cold-stoa', 'cold-hono'].map((n) => [
      n,
      String(sig(coldMs(n))),
      `${Math.round(spr(all, n, 'ms') * 100)}%`,
      '',
    ]),
  ]
  report('lambda', table, {
    ratios: {
      'lambda-apigw/handwritten': ops('stoa') / ops('handwritten'),
      'lambda-apigw/hono': ops('stoa') / ops('hono'),
      // Cold init, stoa's time over hono's: lower is better.
      'lambda-cold/hono': coldMs('cold-stoa') / coldMs('cold-hono'),
      'web-floor/handwritten': ops('web-floor') / ops('handwritten'),
    },
    ops: { stoa: ops('stoa'), handwritten: ops('handwritten'), hono: ops('hono'), 'web-floor': ops('web-floor') },
    coldInitMs: {
      stoa: sig(coldMs('cold-stoa')),
      handwritten: sig(coldMs('cold-handwritten')),
      hono: sig(coldMs('cold-hono')),
    },
    spread: Object.fromEntries(names.map((n) => [n, sig(spr(all, n, n.startsWith('cold-') ? 'ms' : 'ops'))])),
    rounds,
  })
}
