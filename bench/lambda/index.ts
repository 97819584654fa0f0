import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * Lambda suite: the handler's own cost per API Gateway HTTP API (payload 2.0) event, stoa's
 * `lambdaHandler` over a service with one web route against the peers a user would pick
 * instead, serving the same route: hono's own adapter (`hono/aws-lambda`) and express through
 * `@codegenie/serverless-express`; and a hand-written handler answering it directly. Each runs
 * in its own process, awaited one event at a time as the Lambda runtime invokes. `web-floor`
 * is the web plugin's own steps for that request alone (route match, body parse,
 * handleWebRequest), the least the handler can cost. Cold start is each handler module's
 * import to its first answer (for stoa the service's start included), each sample in a fresh
 * process: the median, and the CPU the process had used by then. Needs `npm run build`.
 */
export default async function lambda(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL('../../dist/transports/lambda/index.js', import.meta.url)))) {
    throw new Error('the lambda suite runs the built library: run `npm run build` first')
  }
  const warm = ['handwritten', 'stoa', 'hono', 'express', 'web-floor']
  const cold = ['cold-handwritten', 'cold-stoa', 'cold-hono', 'cold-express']
  const names = [...warm, ...cold]
  const contestants: Contestant[] = names.map((name) => ({ name, file: 'lambda/worker.ts', args: [name] }))
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const all = await alternate(contestants, rounds)
  const ops = (n: string) => med(all, n, 'ops')
  const coldMs = (n: string) => med(all, n, 'ms')
  const coldCpu = (n: string) => med(all, n, 'cpuMs')
  // The peer stoa is held to: the faster of the frameworks a user would pick instead.
  const peer = ops('hono') >= ops('express') ? 'hono' : 'express'
  const table = [
    ['contestant', 'events/s (API Gateway v2)', 'spread', 'x handwritten'],
    ...warm.map((n) => [
      n,
      String(sig(ops(n))),
      `${Math.round(spr(all, n, 'ops') * 100)}%`,
      String(sig(ops(n) / ops('handwritten'))),
    ]),
    ['cold start', 'median ms', 'spread', 'CPU ms (process)'],
    ...cold.map((n) => [n, String(sig(coldMs(n))), `${Math.round(spr(all, n, 'ms') * 100)}%`, String(sig(coldCpu(n)))]),
  ]
  report('lambda', table, {
    ratios: {
      'lambda-apigw/handwritten': ops('stoa') / ops('handwritten'),
      // Against the faster peer (named in `peer`), the target's key.
      'lambda-apigw/hono': ops('stoa') / ops(peer),
      'lambda-apigw/hono-aws-lambda': ops('stoa') / ops('hono'),
      'lambda-apigw/serverless-express': ops('stoa') / ops('express'),
      // Cold start, stoa's time over hono's: lower is better.
      // CPU per event, the peer's over stoa's: higher is better, as for the rates.
      'lambda-apigw-cpu/hono': med(all, peer, 'cpuUs') / med(all, 'stoa', 'cpuUs'),
      'lambda-cold/hono': coldMs('cold-stoa') / coldMs('cold-hono'),
      'lambda-cold-cpu/hono': coldCpu('cold-stoa') / coldCpu('cold-hono'),
      'lambda-cold/serverless-express': coldMs('cold-stoa') / coldMs('cold-express'),
      'web-floor/handwritten': ops('web-floor') / ops('handwritten'),
    },
    peer,
    ops: Object.fromEntries(warm.map((n) => [n, ops(n)])),
    cpuUsPerEvent: Object.fromEntries(
      ['handwritten', 'stoa', 'hono', 'express'].map((n) => [n, sig(med(all, n, 'cpuUs'))]),
    ),
    coldStartMs: Object.fromEntries(cold.map((n) => [n.slice(5), sig(coldMs(n))])),
    coldStartCpuMs: Object.fromEntries(cold.map((n) => [n.slice(5), sig(coldCpu(n))])),
    spread: Object.fromEntries(names.map((n) => [n, sig(spr(all, n, n.startsWith('cold-') ? 'ms' : 'ops'))])),
    rounds,
  })
}
