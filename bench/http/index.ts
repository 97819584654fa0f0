import type { Contestant } from '../lib.js'
import { alternate, med, report, sig, spr } from '../lib.js'

/**
 * The http suite, every server in its own process:
 * - a mounted action route (`GET /sum?left=1&right=2`): stoa's web plugin mounted in an express
 *   app (`stoa-web`, mountWeb) and on its own node:http server (`stoa-serve`, serveWeb) vs a
 *   bare express handler, seneca-web on express, moleculer-web and bare node:http, loaded by
 *   autocannon (a third process) with 100 connections; plus `express-mw`, one express
 *   middleware answering from the raw request, express's own floor for a mounted route;
 * - a route with a path parameter and a schema-checked JSON body (`POST /votes/:id`, 202):
 *   serveWeb (`stoa-serve-vote`) vs fastify 5 (JSON schemas), hono on @hono/node-server
 *   (its validator middleware with zod, its body limit; `hono-nolimit` without it) and bare node:http doing the same
 *   checks with the same zod schemas (`node-http-vote`), loaded the same way;
 * - act throughput of stoa's HTTP transport listener vs Seneca's HTTP transport listener and a
 *   bare node:http server doing the same work, loaded by autocannon the same way
 *   (`stoa-http/...`);
 * - the same acts sent by each side's own client, 100 in flight (`...-client`): stoa's client
 *   and listener vs a bare node:http client and server vs Seneca's client and listener.
 * Beside each rate, the server's CPU time per request (µs, median): autocannon or the client
 * shares the two cores with the server, so a rate alone can flatter whichever side gets more
 * of them. `BENCH_SECONDS` (default 3) and `BENCH_ROUNDS` (default 3) bound the run;
 * `BENCH_ONLY` (names, comma-separated) runs some contestants alone.
 *
 * stoa's servers and clients run the built library (dist/, through bench/http/stoa.ts), what
 * users run, as the lambda and cli suites do: `npm run bench` builds it first, and the JSON line
 * says so (`code: "dist"`). Only the bench's own files go through tsx.
 */
export default async function http(): Promise<void> {
  const seconds = process.env.BENCH_SECONDS ?? '3'
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
  const routes = ['express', 'express-mw', 'stoa-web', 'stoa-serve', 'seneca-web', 'moleculer-web', 'node-http-get']
  const votes = ['stoa-serve-vote', 'fastify', 'hono', 'hono-nolimit', 'node-http-vote']
  const acts = ['node-http', 'stoa-http', 'seneca-http']
  const only = process.env.BENCH_ONLY?.split(',')
  const contestants: Contestant[] = [
    ...routes.map((kind) => ({ name: kind, file: 'http/cannon.ts', args: [kind, 'get', seconds] })),
    ...votes.map((kind) => ({ name: kind, file: 'http/cannon.ts', args: [kind, 'vote', seconds] })),
    ...acts.map((kind) => ({ name: kind, file: 'http/cannon.ts', args: [kind, 'act', seconds] })),
    ...acts.map((kind) => ({ name: `${kind}-client`, file: 'http/acts.ts', args: [kind, seconds] })),
  ].filter((c) => only === undefined || only.includes(c.name))
  const all = await alternate(contestants, rounds)
  const ops = Object.fromEntries(contestants.map((c) => [c.name, med(all, c.name, 'ops')]))
  const r = (a: string, b: string) => ops[a]! / ops[b]!
  const ratios = {
    'stoa-web/express': r('stoa-web', 'express'),
    'stoa-web/seneca-web': r('stoa-web', 'seneca-web'),
    'stoa-web/express-mw': r('stoa-web', 'express-mw'),
    // The most any route served inside express can reach against seneca-web on this machine.
    'express-mw/seneca-web': r('express-mw', 'seneca-web'),
    'stoa-web/moleculer-web': r('stoa-web', 'moleculer-web'),
    'stoa-web/node-http': r('stoa-web', 'node-http-get'),
    // stoa owning the server: its routes on node:http, against the fastest gateway and node's floor.
    'stoa-serve/moleculer-web': r('stoa-serve', 'moleculer-web'),
    'stoa-serve/node-http': r('stoa-serve', 'node-http-get'),
    'stoa-serve/stoa-web': r('stoa-serve', 'stoa-web'),
    // serveWeb against the frameworks a user would pick instead, on the schema-checked route.
    'stoa-serve/fastify': r('stoa-serve-vote', 'fastify'),
    'stoa-serve/hono': r('stoa-serve-vote', 'hono'),
    // hono without its bodyLimit middleware: fewer checks than stoa makes, for information.
    'stoa-serve/hono-nolimit': r('stoa-serve-vote', 'hono-nolimit'),
    'stoa-serve-vote/node-http-vote': r('stoa-serve-vote', 'node-http-vote'),
    'stoa-http/node-http': r('stoa-http', 'node-http'),
    'stoa-http/seneca-http': r('stoa-http', 'seneca-http'),
    'stoa-http-client/node-http-client': r('stoa-http-client', 'node-http-client'),
    'stoa-http-client/seneca-http-client': r('stoa-http-client', 'seneca-http-client'),
  }
  const spreads = Object.fromEntries(contestants.map((c) => [c.name, sig(spr(all, c.name, 'ops'))]))
  const p99 = Object.fromEntries(
    contestants.map((c) => [
      c.name,
      (all[c.name] ?? []).some((f) => f.p99 !== undefined) ? med(all, c.name, 'p99') : NaN,
    ]),
  )
  const cpuUs = Object.fromEntries(contestants.map((c) => [c.name, sig(med(all, c.name, 'cpuUs'))]))
  // The same comparisons in server CPU per request, where lower is cheaper: steadier than the
  // rates when the load generator and other work take the cores unevenly.
  const c = (a: string, b: string) => sig(cpuUs[a]! / cpuUs[b]!)
  const cpuRatios = {
    'stoa-serve/moleculer-web': c('stoa-serve', 'moleculer-web'),
    'stoa-serve/node-http': c('stoa-serve', 'node-http-get'),
    'stoa-web/express-mw': c('stoa-web', 'express-mw'),
    'stoa-serve/fastify': c('stoa-serve-vote', 'fastify'),
    'stoa-serve/hono': c('stoa-serve-vote', 'hono'),
    'stoa-serve-vote/node-http-vote': c('stoa-serve-vote', 'node-http-vote'),
  }
  const errors = Object.fromEntries(
    contestants.map((c) => [c.name, Math.max(0, ...(all[c.name] ?? []).map((f) => f.errors ?? 0))]),
  )
  const table = [
    ['contestant', 'req/s (median)', 'spread', 'server CPU µs/req', 'p99 ms', 'errors'],
    ...contestants.map((c) => [
      c.name,
      String(sig(ops[c.name]!)),
      `${Math.round(spreads[c.name]! * 100)}%`,
      String(cpuUs[c.name]),
      String(p99[c.name]),
      String(errors[c.name]),
    ]),
  ]
  report('http', table, {
    ratios,
    ops,
    cpuUs,
    cpuRatios,
    spreads,
    p99,
    errors,
    rounds,
    seconds: Number(seconds),
    code: 'dist',
  })
}
