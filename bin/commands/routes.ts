import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { isStoaErrorLike, writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { boolFlag, cliLogger, stringFlag } from './shared.js'

/** One route as `role:web,cmd:routes` lists it; other fields it carries are printed with `--json`. */
interface Route {
  readonly method: string
  readonly path: string
  readonly pattern: string
  readonly status?: number
  readonly middleware?: readonly unknown[]
}

/**
 * `stoa routes <service>`: the HTTP routes of the service's web plugin, taken from the
 * plugin itself (`role:web,cmd:routes`) on an instance of the service in this process.
 * A service without a web plugin has no routes: an empty list, and a note on stderr.
 *
 * @example
 * await routes({ positionals: ['./gateway.ts'], values: {} }, io)
 */
export async function routes(args: Args, io: Io): Promise<number> {
  const [path, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const stoa = await loadService(path, {
    cwd: io.cwd,
    env: io.env,
    name: stringFlag(args, 'name'),
    logger: cliLogger(args, io.stderr),
  })
  let table: Route[] | undefined
  try {
    await stoa.ready()
    table = await routeTable(stoa.act('role:web,cmd:routes', {}, { caller: 'cli' }))
  } finally {
    await stoa.close()
  }
  if (table === undefined) io.stderr.write(`no routes: service "${stoa.name}" loads no web plugin\n`)
  const rows = table ?? []
  if (boolFlag(args, 'json')) writeJson(io.stdout, rows.map(printable))
  else if (rows.length > 0) io.stdout.write(format(rows))
  return 0
}

/** The routes the web plugin answers with, or undefined when no web plugin is loaded. */
async function routeTable(answer: Promise<unknown>): Promise<Route[] | undefined> {
  let out: unknown
  try {
    out = await answer
  } catch (err) {
    if (isStoaErrorLike(err) && err.code === 'NOT_FOUND') return undefined
    throw err
  }
  const list = (out as { routes?: unknown } | null)?.routes
  return Array.isArray(list) ? (list as Route[]) : []
}

/** A route as JSON can show it: middleware given as a function is shown by its name. */
function printable(route: Route): Route {
  if (route.middleware === undefined) return route
  return {
    ...route,
    middleware: route.middleware.map((m) => (typeof m === 'function' ? `[function ${m.name || 'anonymous'}]` : m)),
  }
}

function format(rows: readonly Route[]): string {
  const cells = [
    ['METHOD', 'PATH', 'PATTERN', 'STATUS'],
    ...rows.map((r) => [r.method, r.path, r.pattern, String(r.status ?? 200)]),
  ]
  const widths = [0, 1, 2].map((i) => Math.max(...cells.map((c) => c[i]!.length)))
  return `${cells.map((c) => c.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ')).join('\n')}\n`
}
