import { rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { report } from '../lib.js'
import type { Installed } from './kit.js'
import { ALONE_PROBE, install, JS_SERVICE, optionalPeers, pack, runCommand, runIn } from './kit.js'

/** Each entry point with the optional peers an application using it installs beside stoa. */
const ROWS: readonly { readonly entry: string; readonly peers: readonly string[] }[] = [
  { entry: 'stoa alone: root, transport, memory, authz, health, bulkhead', peers: [] },
  { entry: 'stoa/http (client)', peers: ['undici'] },
  { entry: 'stoa/amqp', peers: ['amqplib'] },
  { entry: 'stoa/lambda (client)', peers: ['@aws-sdk/client-lambda'] },
  { entry: 'stoa/nats', peers: ['@nats-io/transport-node', '@nats-io/jetstream'] },
  { entry: 'stoa/web', peers: ['express'] },
  { entry: 'stoa/jwt', peers: ['jsonwebtoken'] },
  { entry: 'stoa/jwt (JWKS keys)', peers: ['jsonwebtoken', 'jwks-rsa'] },
  { entry: 'stoa/breaker', peers: ['cockatiel'] },
  { entry: 'stoa/metrics', peers: ['prom-client'] },
  { entry: 'stoa/logs', peers: ['pino'] },
  { entry: 'stoa/logs (pretty)', peers: ['pino', 'pino-pretty'] },
  { entry: 'stoa/tracing', peers: ['@opentelemetry/api'] },
  { entry: 'stoa/postgres (PostgreSQL)', peers: ['pg'] },
  { entry: 'stoa/postgres (PGlite)', peers: ['@electric-sql/pglite'] },
  { entry: 'stoa command, .ts modules', peers: ['tsx'] },
  { entry: 'Seneca plugins', peers: ['seneca'] },
]

/**
 * Install suite: the size and package count of an application's node_modules after installing
 * the packed tarball alone, and with each entry point's optional peers (`npm install` into an
 * empty folder, from npm's cache where it can). In the install of stoa alone it also checks
 * what such an application can do: act in process and over the memory bus, import every entry
 * point, get `INVALID_PLUGIN` naming the package when the AMQP, HTTP or Lambda client starts, and run the
 * `stoa` command on a .js module (a .ts one asks for tsx).
 */
export default async function installSuite(): Promise<void> {
  const peers = optionalPeers()
  const tarball = pack()
  const tarKiB = Math.round(statSync(tarball).size / 1024)
  const spec = (name: string) => {
    const range = peers[name]
    if (range === undefined) throw new Error(`${name} is not an optional peer in package.json`)
    return `${name}@${range}`
  }
  // What stoa installed before its peers became optional: every peer but seneca, NATS and the
  // databases (new since).
  const later = new Set(['seneca', 'pg', '@electric-sql/pglite'])
  const everything = Object.keys(peers).filter((p) => !later.has(p) && !p.startsWith('@nats-io/'))
  const rows = [...ROWS, { entry: 'every peer but seneca (what stoa installed before)', peers: everything }]
  const results: { entry: string; peers: readonly string[]; got: Installed }[] = []
  let checks: Record<string, unknown> = {}
  try {
    for (const row of rows) {
      const got = install(tarball, row.peers.map(spec))
      process.stderr.write(`${row.entry}: ${got.packages} packages, ${got.kib} KiB\n`)
      if (row.peers.length === 0) checks = probe(got.dir)
      results.push({ ...row, got })
      rmSync(got.dir, { recursive: true, force: true })
    }
  } finally {
    rmSync(dirname(tarball), { recursive: true, force: true })
  }
  const mb = (kib: number) => (kib / 1024).toFixed(1)
  const alone = results[0]!.got
  const all = results[results.length - 1]!.got
  const table = [
    ['entry point', 'optional peers installed', 'packages', 'node_modules MiB'],
    ...results.map((r) => [
      r.entry,
      r.peers.length > 8 ? `${r.peers.length} peers` : r.peers.join(', ') || '—',
      String(r.got.packages),
      mb(r.got.kib),
    ]),
    [`packed tarball: ${tarKiB} KiB`, '', '', ''],
  ]
  report('install', table, {
    ratios: {
      'alone/every-peer size': alone.kib / all.kib,
      'alone/every-peer packages': alone.packages / all.packages,
    },
    ops: {},
    tarballKiB: tarKiB,
    installs: Object.fromEntries(
      results.map((r) => [r.entry, { peers: r.peers, packages: r.got.packages, kib: r.got.kib }]),
    ),
    checks,
  })
  // Entry points that still import their package when loaded are reported, not failed on: the
  // plugins of the web and scope branches of issue 20 are converted there.
  const failed = Object.entries(checks).filter(([name, ok]) => ok !== true && name !== 'entriesImportable')
  if (failed.length > 0)
    throw new Error(`stoa alone: ${failed.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('; ')}`)
}

/** What an application with stoa alone can do; each check is true, or what happened instead. */
function probe(dir: string): Record<string, unknown> {
  const seen = JSON.parse(runIn(dir, ALONE_PROBE).trim().split('\n').pop()!) as {
    inProcess: unknown
    overBus: unknown
    imports: Record<string, string>
    starts: Record<string, { code?: string; details?: { package?: string } }>
  }
  writeFileSync(join(dir, 'math.mjs'), JS_SERVICE)
  writeFileSync(join(dir, 'math.ts'), JS_SERVICE)
  const js = runCommand(dir, ['act', './math.mjs', 'role:math,cmd:sum', 'left=1', 'right=2'])
  const ts = runCommand(dir, ['act', './math.ts', 'role:math,cmd:sum', 'left=1', 'right=2'])
  const unimportable = Object.entries(seen.imports).filter(([, v]) => v !== 'ok')
  const is = (ok: boolean, otherwise: unknown) => (ok ? true : otherwise)
  return {
    actInProcess: is(JSON.stringify(seen.inProcess) === '{"answer":3}', seen.inProcess),
    actOverMemoryBus: is(JSON.stringify(seen.overBus) === '{"answer":5}', seen.overBus),
    clientsNameTheirPackage: is(
      Object.entries({ amqp: 'amqplib', http: 'undici', lambda: '@aws-sdk/client-lambda' }).every(
        ([name, pkg]) => seen.starts[name]?.code === 'INVALID_PLUGIN' && seen.starts[name]?.details?.package === pkg,
      ),
      seen.starts,
    ),
    commandRunsJsModule: is(js.status === 0 && js.stdout.trim() === '{"answer":3}', js),
    commandAsksTsxForTs: is(ts.status === 1 && ts.stderr.includes('npm install tsx'), ts),
    entriesImportable: is(unimportable.length === 0, Object.fromEntries(unimportable)),
  }
}
