import { basename, extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Logger, Pattern, Stoa } from '../actions/index.js'
import { createStoa, isPlugin, isService, StoaError } from '../actions/index.js'
import { isStoaErrorLike } from './output.js'
import { UsageError } from './usage.js'

/** Extensions Node loads on its own; anything TypeScript goes through tsx. */
const PLAIN = new Set(['.js', '.mjs', '.cjs'])
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

/** The remote services each loaded `defineService` service declared, by instance. */
const declared = new WeakMap<Stoa, Readonly<Record<string, readonly Pattern[]>>>()

/**
 * The services an instance made by {@link loadService} calls, with the pins of each, as its
 * `defineService({ clients })` declared them; none for a plugin module.
 */
export function declaredClients(stoa: Stoa): Readonly<Record<string, readonly Pattern[]>> {
  return declared.get(stoa) ?? {}
}

/** How a service module is turned into an instance. */
export interface LoadOptions {
  /** Relative paths resolve against it. */
  readonly cwd: string
  /** The service's name, for modules that do not define one. */
  readonly name?: string | undefined
  /** Where the instance logs. */
  readonly logger: Logger
  /** How long `close()` waits for in-flight work, ms, overriding the service's own. */
  readonly graceMs?: number | undefined
  /** Where a service's declared settings are read from (`defineService({ config })`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * Loads a service module and returns a new, not yet started instance of it. The module's
 * default export is a `defineService` service, a `definePlugin` plugin, a Seneca-style plugin
 * function, or a list of plugins and `[plugin, options]` pairs. `.ts` files load through tsx,
 * which is imported only then, so a `.js` service starts without it.
 *
 * @example
 * const stoa = await loadService('./math.ts', { cwd: process.cwd(), logger })
 */
export async function loadService(path: string, options: LoadOptions): Promise<Stoa> {
  return assemble(await importModule(path, options.cwd), { ...options, file: resolve(options.cwd, path) })
}

/**
 * Imports a service module and returns its default export, unchecked (see {@link loadService}).
 *
 * @example
 * const exported = await importModule('./math.ts', process.cwd())
 */
export async function importModule(path: string, cwd: string): Promise<unknown> {
  const file = resolve(cwd, path)
  const ext = extname(file)
  if (!PLAIN.has(ext) && !TYPESCRIPT.has(ext)) {
    throw new UsageError(`the service must be a .js, .mjs, .cjs or .ts file: ${path}`)
  }
  const found = statOf(file)
  if (found === undefined || !found.isFile()) throw new UsageError(`no service module at ${path}`)
  let mod: unknown
  try {
    mod = TYPESCRIPT.has(ext) ? await importTypeScript(file) : await import(pathToFileURL(file).href)
  } catch (err) {
    if (isStoaErrorLike(err)) throw err
    throw new StoaError(
      'INVALID_PLUGIN',
      `service module ${path} failed to load: ${(err as Error)?.message ?? String(err)}`,
      { module: path },
      { cause: err },
    )
  }
  return defaultExport(mod)
}

/**
 * The file's stat, undefined when it cannot be read. In line rather than through fs/promises:
 * one syscall, where a round trip through the thread pool waits, on a busy machine, for the
 * scheduler to run the main thread again.
 */
function statOf(file: string): import('node:fs').Stats | undefined {
  try {
    return process.getBuiltinModule('node:fs').statSync(file, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

let typescript: Promise<void> | undefined

async function importTypeScript(file: string): Promise<unknown> {
  const href = pathToFileURL(file).href
  try {
    // Under a loader that already compiles TypeScript (a test runner with tsx, a Node that
    // strips types), the module loads as it is and tsx is not loaded twice: two loaders
    // would give each module two instances.
    return await import(href)
  } catch (err) {
    if ((err as { code?: unknown })?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err
  }
  // tsx's loader is registered for the whole process rather than scoped to this import: a
  // scoped import gives every module it reaches, .js ones included, an instance of its own,
  // so a service importing stoa would bring a second kernel whose errors and plugins this
  // one would not recognise.
  // The transport kit only now: a .js service starts without loading it.
  typescript ??= import('../actions/transport.js')
    .then(({ loadPeer }) => loadPeer<typeof import('tsx/esm/api')>('tsx/esm/api', 'the stoa command'))
    .then(({ register }) => {
      register()
    })
  try {
    await typescript
  } catch (err) {
    typescript = undefined
    if (!(err instanceof StoaError) || err.code !== 'INVALID_PLUGIN') throw err
    // tsx is an optional peer: only a TypeScript service module needs it, so say which one does.
    throw new StoaError(
      'INVALID_PLUGIN',
      `${basename(file)} is TypeScript, which the stoa command loads through the package tsx, not installed: npm install tsx (or run the compiled .js)`,
      { ...err.details, module: file },
      { cause: err },
    )
  }
  // Node remembers the failed attempt under the module's URL; a query makes it a new one.
  return import(`${href}?ts`)
}

/**
 * The module's default export. A CommonJS module's `module.exports` is its default; a module
 * compiled from TypeScript to CommonJS keeps its own under `default` once more.
 */
function defaultExport(mod: unknown): unknown {
  let value = (mod as { default?: unknown }).default
  if (value !== null && typeof value === 'object' && (value as { __esModule?: unknown }).__esModule === true) {
    value = (value as { default?: unknown }).default
  }
  return value
}

/**
 * Builds an instance from what a service module exports (see {@link loadService}). Exported
 * for tests and for hosts that import the module themselves.
 */
export function assemble(exported: unknown, options: LoadOptions & { readonly file: string }): Stoa {
  const where = basename(options.file)
  if (isService(exported)) {
    if (options.name !== undefined && options.name !== exported.name) {
      throw new UsageError(`${where} defines service "${exported.name}"; --name cannot rename it`)
    }
    // The service may come from another copy of the kernel (its own import path); both
    // copies build the same instances, so the CLI's type describes it.
    const env = options.env === undefined ? {} : { env: options.env }
    const stoa = exported.create({ logger: options.logger, ...grace(options), ...env }) as unknown as Stoa
    // A service of an older copy has no `clients`: nothing declared.
    declared.set(stoa, exported.clients ?? {})
    return stoa
  }
  const items = pluginList(exported, where)
  const stoa = createStoa({
    name: options.name ?? nameOf(items[0]![0]) ?? serviceName(options.file),
    logger: options.logger,
    ...grace(options),
  })
  for (const [plugin, opts] of items) {
    ;(stoa.use as (plugin: unknown, options?: unknown) => unknown)(plugin, opts)
  }
  return stoa
}

function grace(options: LoadOptions): { graceMs?: number } {
  return options.graceMs === undefined ? {} : { graceMs: options.graceMs }
}

type Item = readonly [plugin: unknown, options: Record<string, unknown> | undefined]

function pluginList(exported: unknown, where: string): Item[] {
  const expected =
    'a service (defineService), a plugin (definePlugin), a Seneca-style plugin function, or a list of plugins'
  if (exported === undefined)
    throw new StoaError('INVALID_PLUGIN', `${where} has no default export; export ${expected}`)
  if (isLoadable(exported)) return [[exported, undefined]]
  if (Array.isArray(exported)) {
    // `[plugin, { options }]` alone is one plugin with its options, not a list of two.
    if (exported.length === 2 && isLoadable(exported[0]) && isOptions(exported[1])) return [[exported[0], exported[1]]]
    if (exported.length === 0) throw new StoaError('INVALID_PLUGIN', `${where} exports an empty list of plugins`)
    return exported.map((item, i): Item => {
      if (isLoadable(item)) return [item, undefined]
      if (Array.isArray(item) && item.length === 2 && isLoadable(item[0]) && isOptions(item[1]))
        return [item[0], item[1]]
      throw new StoaError(
        'INVALID_PLUGIN',
        `${where}: item ${i} of the default export is not a plugin or a [plugin, options] pair`,
        { index: i },
      )
    })
  }
  throw new StoaError('INVALID_PLUGIN', `${where} must export ${expected}`)
}

function isLoadable(v: unknown): boolean {
  return typeof v === 'function' || isPlugin(v)
}

function isOptions(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !isPlugin(v)
}

function nameOf(plugin: unknown): string | undefined {
  if (isPlugin(plugin)) return plugin.name
  if (typeof plugin === 'function' && plugin.name !== '') return plugin.name
  return undefined
}

/** `vote-gateway.ts` names service `vote-gateway`. */
function serviceName(file: string): string {
  return basename(file, extname(file))
}
