import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url))

/** What one install into an empty application folder gave. */
export interface Installed {
  /** The application folder; `node_modules` is in it. */
  readonly dir: string
  /** Packages in node_modules, stoa included (nested copies count once each). */
  readonly packages: number
  /** Disk usage of node_modules, KiB (`du -sk`). */
  readonly kib: number
}

/**
 * Packs the repository as npm would publish it (`npm pack`, without running `prepare` again:
 * the caller has built `dist/`) into a temporary folder and returns the tarball's path.
 */
export function pack(): string {
  const dest = mkdtempSync(join(tmpdir(), 'stoa-pack-'))
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [info] = JSON.parse(out) as { filename: string }[]
  return join(dest, info!.filename)
}

/**
 * Installs `tarball` and `extra` packages (`name@range`) into a new, empty application folder
 * the way an application would (`npm install`), preferring npm's cache to the registry.
 */
export function install(tarball: string, extra: readonly string[] = []): Installed {
  const dir = mkdtempSync(join(tmpdir(), 'stoa-install-'))
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'stoa-install-probe', version: '1.0.0', private: true, type: 'module' }),
  )
  mkdirSync(join(dir, 'node_modules'))
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', tarball, ...extra],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  )
  const modules = join(dir, 'node_modules')
  const kib = Number(execFileSync('du', ['-sk', modules], { encoding: 'utf8' }).split(/\s/)[0])
  return { dir, packages: countPackages(modules), kib }
}

/** Counts the package folders under a node_modules folder, scoped and nested ones included. */
export function countPackages(modules: string): number {
  let n = 0
  let names: string[]
  try {
    names = readdirSync(modules)
  } catch {
    return 0
  }
  for (const name of names) {
    if (name.startsWith('.')) continue
    const path = join(modules, name)
    if (!statSync(path).isDirectory()) continue
    const dirs = name.startsWith('@') ? readdirSync(path).map((s) => join(path, s)) : [path]
    for (const d of dirs) {
      try {
        statSync(join(d, 'package.json'))
      } catch {
        continue
      }
      n += 1 + countPackages(join(d, 'node_modules'))
    }
  }
  return n
}

/**
 * Runs an ES module script inside an application folder (so `stoa` resolves to the installed
 * copy) and returns its stdout.
 */
export function runIn(dir: string, script: string): string {
  const file = join(dir, `probe-${process.pid}-${Date.now()}.mjs`)
  writeFileSync(file, script)
  try {
    return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } finally {
    rmSync(file, { force: true })
  }
}

/** The package's optional peers, by name, with the version range it accepts. */
export function optionalPeers(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    peerDependencies?: Record<string, string>
    peerDependenciesMeta?: Record<string, { optional?: boolean }>
  }
  const out: Record<string, string> = {}
  for (const [name, range] of Object.entries(pkg.peerDependencies ?? {}))
    if (pkg.peerDependenciesMeta?.[name]?.optional === true) out[name] = range
  return out
}

/**
 * What an application with stoa alone installed (no optional peer) can do, as a script run in
 * its folder: an act in process and one over the memory bus; every entry point imported; the
 * AMQP transport started, refused with `INVALID_PLUGIN` naming amqplib. Prints one JSON line.
 */
export const ALONE_PROBE = `
import { createStoa, StoaError } from 'stoa'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'

const inProcess = await createStoa({ name: 'math' })
  .add('role:math,cmd:sum', (msg) => ({ answer: msg.left + msg.right }))
  .act('role:math,cmd:sum', { left: 1, right: 2 })

const bus = createMemoryBus()
const math = createStoa({ name: 'math' }).add('role:math,cmd:sum', (msg) => ({ answer: msg.left + msg.right }))
math.listen(createMemoryTransport({ bus }))
const gateway = createStoa({ name: 'gateway' }).client(createMemoryTransport({ bus }), ['role:math'])
await Promise.all([math.ready(), gateway.ready()])
const overBus = await gateway.act('role:math,cmd:sum', { left: 2, right: 3 })
await Promise.all([gateway.close(), math.close()])

const entries = Object.keys(JSON.parse(await (await import('node:fs/promises')).readFile('node_modules/stoa/package.json', 'utf8')).exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'stoa' : 'stoa/' + k.slice(2)))
const imports = {}
for (const entry of entries) {
  try {
    await import(entry)
    imports[entry] = 'ok'
  } catch (err) {
    imports[entry] = String(err?.code ?? err?.message)
  }
}

// Each transport's client, started without its package: refused, naming the package.
const { createAmqpTransport } = await import('stoa/amqp')
const { createHttpTransport } = await import('stoa/http')
const { createLambdaTransport } = await import('stoa/lambda')
const clients = {
  amqp: createAmqpTransport({ url: 'amqp://127.0.0.1:1', target: 'math' }),
  http: createHttpTransport({ url: 'http://127.0.0.1:1' }),
  lambda: createLambdaTransport({ functionName: 'math', region: 'eu-west-1' }),
}
const starts = {}
for (const [name, transport] of Object.entries(clients)) {
  const caller = createStoa({ name: 'caller' }).client(transport, ['role:math'])
  try {
    await caller.ready()
    starts[name] = { ok: true }
  } catch (err) {
    starts[name] = { code: err instanceof StoaError ? err.code : String(err), message: err?.message, details: err?.details }
  }
  await caller.close().catch(() => undefined)
}
console.log(JSON.stringify({ inProcess, overBus, imports, starts }))
`

/** A plain JavaScript service module, for the `stoa` command in an application without tsx. */
export const JS_SERVICE = `
import { definePlugin } from 'stoa'
export default definePlugin({
  name: 'math',
  actions: () => ({ 'role:math,cmd:sum': (msg) => ({ answer: msg.left + msg.right }) }),
})
`

/**
 * Runs the installed `stoa` command in an application folder; returns its exit status and
 * output. A `.ts` module needs tsx; a `.mjs` one nothing.
 */
export function runCommand(dir: string, args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(dir, 'node_modules', 'stoa', 'dist', 'bin', 'stoa.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
  })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}
