import type { ActionTypes } from './action.js'
import type { ConfigSchema, ConfigSource, ConfigValues, ResolvedConfig } from './config.js'
import { resolveConfig } from './config.js'
import { StoaError } from './errors.js'
import type { PluginTypes, StoaOptions } from './kernel.js'
import { Stoa } from './kernel.js'
import type { Message, Pattern } from './pattern.js'
import { toPattern } from './pattern.js'
import type { Plugin } from './plugin.js'
import type { Schema, SchemaInput } from './schema.js'
import { isSchema } from './schema.js'

/** A plugin to load, alone or with its options. */
export type ServicePlugin =
  | Plugin<string, any, any, any>
  | ((this: any, options: any) => unknown)
  | readonly [Plugin<string, any, any, any> | ((this: any, options: any) => unknown), Record<string, unknown>]

/**
 * The plugin list as `defineService` checks it: each `[plugin, options]` pair's options against
 * that plugin's option schema, so a misspelt option (`maxBodyByte`) is a compile error that
 * names it and suggests the right one.
 */
export type CheckedPlugins<L extends readonly unknown[]> = { [K in keyof L]: CheckedPlugin<L[K]> }

type CheckedPlugin<E> = E extends readonly [infer P, unknown] ? readonly [P, PluginOptionsInput<P>] : E

/** The options a plugin takes, as written (defaults optional); any record for a Seneca function. */
type PluginOptionsInput<P> =
  P extends Plugin<string, infer O, any, any>
    ? O extends Schema
      ? SchemaInput<O>
      : Record<string, never>
    : Record<string, unknown>

/** What a service module declares. */
export interface ServiceOptions extends StoaOptions {
  /** The service's name, as callers, queues and task names address it. */
  name: string
  /** The plugins it loads, in order. */
  plugins: readonly ServicePlugin[]
  /**
   * What this service calls that other services answer, by the name of the service that
   * answers: `{ auth: ['role:auth'], results: ['role:results'] }`. The service names no
   * transport: whoever runs it does. `stoa serve --amqp` (or `--nats`) sends the acts matching
   * each service's pins to that service's request queue; a main of your own gives them to
   * `stoa.client(transport, pins)` (see {@link Service.clients}).
   */
  clients?: Readonly<Record<string, readonly (string | Message)[]>>
  /**
   * The settings it reads, one schema per environment variable (see {@link ConfigSchema}); then
   * `plugins` is a function of the resolved values. Resolved by `create({ env })`, which
   * `stoa serve` calls with the process's environment: a bad setting stops the service with
   * `INVALID_CONFIG` before it takes work.
   */
  config?: ConfigSchema
}

/** What `create` takes: the instance's options, and the environment the settings come from. */
export interface CreateOptions extends Omit<StoaOptions, 'name'> {
  /**
   * Where a service with `config` reads its settings (and `<NAME>_FILE` paths): the runner
   * passes the process's environment, a test its own record; the kernel reads none itself.
   * Default: no variables set.
   */
  env?: ConfigSource
}

/**
 * A service: which plugins to load under which name. The same definition runs under
 * `stoa serve`, in tests, in a Lambda handler and under `stoa act`; whoever runs it decides
 * the transports.
 */
export interface Service<T extends ActionTypes = {}> {
  readonly kind: 'stoa-service'
  readonly name: string
  readonly options: Readonly<ServiceOptions>
  /**
   * The remote services it calls and the pins of each, as declared in `clients`, checked:
   * what a runner wires to a client transport per service.
   *
   * @example
   * const service = defineService({ name: 'gateway', clients: { auth: ['role:auth'] }, plugins: [] })
   * for (const [target, pins] of Object.entries(service.clients))
   *   stoa.client(createAmqpTransport({ url: 'amqp://127.0.0.1', target }), pins)
   */
  readonly clients: Readonly<Record<string, readonly Pattern[]>>
  /**
   * A new, not yet started instance of the service with its plugins loaded. It has no
   * transport: listening and the `clients` are the runner's to add.
   */
  create(overrides?: CreateOptions): Stoa<T>
  /**
   * Resolves the settings `config` declares from `env`, as `create` would: the values, what may
   * be shown of them (secrets redacted) and where each came from. Throws `INVALID_CONFIG`
   * naming every bad variable. Empty for a service without `config`.
   */
  resolveConfig(env: ConfigSource): ResolvedConfig
  /** Type-level only: the typed actions of its plugins, for `createClient<typeof service>`. */
  readonly '~types'?: T
}

/** The action types one item of a service's plugin list adds; none for an untyped plugin. */
type ItemTypes<I> = I extends readonly [infer P, unknown] ? OwnTypes<P> : OwnTypes<I>
type OwnTypes<P> = P extends Plugin<string, any, infer A, any> ? (0 extends 1 & A ? {} : PluginTypes<P>) : {}
type Intersect<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never

/** The typed actions of a list of plugins. */
export type ServiceTypes<P extends readonly unknown[]> = Intersect<ItemTypes<P[number]>> & {}

/**
 * Defines a service.
 *
 * @example
 * export default defineService({ name: 'math', plugins: [math] })
 */
export function defineService<const L extends readonly ServicePlugin[]>(
  options: Omit<ServiceOptions, 'plugins' | 'config'> & { plugins: CheckedPlugins<L>; config?: undefined },
): Service<ServiceTypes<L>>
/**
 * Defines a service that reads settings: `plugins` is a function of the values `config`
 * resolves to, typed from its schemas.
 *
 * @example
 * export default defineService({
 *   name: 'math',
 *   config: { PRECISION: z.coerce.number().int().default(2) },
 *   plugins: (config) => [[math, { precision: config.PRECISION }]],
 * })
 */
export function defineService<const L extends readonly ServicePlugin[], const C extends ConfigSchema>(
  options: Omit<ServiceOptions, 'plugins' | 'config'> & {
    config: C
    plugins: (config: ConfigValues<C>) => CheckedPlugins<L>
  },
): Service<ServiceTypes<L>>
export function defineService(
  options: Omit<ServiceOptions, 'plugins'> & {
    plugins: readonly ServicePlugin[] | ((config: Record<string, unknown>) => readonly ServicePlugin[])
  },
): Service {
  if (typeof options.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(options.name)) {
    throw new StoaError('INVALID_OPTIONS', `service name "${String(options.name)}" must be lowercase kebab-case`)
  }
  const name = options.name
  const clients = remoteServices(name, options.clients)
  const config = checkConfig(name, options.config, options.plugins)
  const list = options.plugins
  const frozen = Object.freeze({
    ...options,
    plugins: typeof list === 'function' ? list : Object.freeze([...list]),
  }) as unknown as Readonly<ServiceOptions>
  const resolve = (env: ConfigSource): ResolvedConfig =>
    config === undefined
      ? Object.freeze({ values: Object.freeze({}), shown: Object.freeze({}), origin: Object.freeze({}) })
      : resolveConfig(name, config, env)
  return Object.freeze({
    kind: 'stoa-service' as const,
    name,
    options: frozen,
    clients,
    resolveConfig: resolve,
    create(overrides: CreateOptions = {}): Stoa {
      const { env = {}, ...instance } = overrides
      const { plugins: _list, clients: _declared, config: _config, ...rest } = options
      // Settings first: a bad one stops the service before a plugin is loaded, let alone started.
      const resolved = resolve(env)
      const stoa = new Stoa({ ...rest, ...instance })
      if (config !== undefined) stoa.log.info({ config: resolved.shown }, `service "${name}" configuration`)
      const plugins = typeof list === 'function' ? list(resolved.values) : list
      if (!Array.isArray(plugins))
        throw new StoaError('INVALID_OPTIONS', `service "${name}": option "plugins" must return a list of plugins`)
      for (const p of plugins) {
        const [plugin, opts] = Array.isArray(p) ? p : [p, undefined]
        ;(stoa.use as (plugin: unknown, options?: unknown) => unknown)(plugin, opts)
      }
      return stoa
    },
  })
}

/** Checks `config`: a record of Standard Schemas by variable name, with `plugins` a function of it. */
function checkConfig(service: string, config: unknown, plugins: unknown): ConfigSchema | undefined {
  if (config === undefined) {
    if (typeof plugins === 'function')
      throw new StoaError('INVALID_OPTIONS', `service "${service}": "plugins" is a function of "config": declare it`)
    return undefined
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new StoaError('INVALID_OPTIONS', `service "${service}": option "config" must map variable names to schemas`)
  for (const [variable, schema] of Object.entries(config)) {
    const where = `service "${service}": option "config.${variable}"`
    if (!/^[A-Z][A-Z0-9_]*$/.test(variable))
      throw new StoaError('INVALID_OPTIONS', `${where}: a variable name is SCREAMING_SNAKE_CASE`)
    if (!isSchema(schema)) throw new StoaError('INVALID_OPTIONS', `${where}: not a Standard Schema (zod, valibot…)`)
  }
  if (typeof plugins !== 'function')
    throw new StoaError(
      'INVALID_OPTIONS',
      `service "${service}": with "config", "plugins" is a function of the settings`,
    )
  return Object.freeze({ ...(config as ConfigSchema) })
}

/** Checks `clients`: service names as services are named, pins that parse, none for itself. */
function remoteServices(
  service: string,
  clients: ServiceOptions['clients'],
): Readonly<Record<string, readonly Pattern[]>> {
  const out: Record<string, readonly Pattern[]> = {}
  if (clients === undefined) return Object.freeze(out)
  if (clients === null || typeof clients !== 'object')
    throw new StoaError('INVALID_OPTIONS', `service "${service}": option "clients" must map service names to pins`)
  for (const [target, pins] of Object.entries(clients)) {
    const where = `service "${service}": option "clients.${target}"`
    if (!SERVICE_NAME.test(target))
      throw new StoaError('INVALID_OPTIONS', `${where}: "${target}" is not a service name (lowercase kebab-case)`)
    if (target === service) throw new StoaError('INVALID_OPTIONS', `${where}: a service does not call itself remotely`)
    if (!Array.isArray(pins) || pins.length === 0)
      throw new StoaError('INVALID_OPTIONS', `${where}: give the patterns it answers, like ['role:${target}']`)
    out[target] = Object.freeze(pins.map((p: string | Message) => toPattern(p as string)))
  }
  return Object.freeze(out)
}

const SERVICE_NAME = /^[a-z][a-z0-9-]*$/

/** Whether a value is a service made by `defineService`. */
export function isService(value: unknown): value is Service {
  return value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'stoa-service'
}
