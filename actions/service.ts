import type { ActionTypes } from './action.js'
import { StoaError } from './errors.js'
import type { PluginTypes, StoaOptions } from './kernel.js'
import { Stoa } from './kernel.js'
import type { Message, Pattern } from './pattern.js'
import { toPattern } from './pattern.js'
import type { Plugin } from './plugin.js'
import type { Schema, SchemaInput } from './schema.js'

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
  create(overrides?: Omit<StoaOptions, 'name'>): Stoa<T>
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
  options: Omit<ServiceOptions, 'plugins'> & { plugins: CheckedPlugins<L> },
): Service<ServiceTypes<L>> {
  if (typeof options.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(options.name)) {
    throw new StoaError('INVALID_OPTIONS', `service name "${String(options.name)}" must be lowercase kebab-case`)
  }
  const clients = remoteServices(options.name, options.clients)
  const frozen = Object.freeze({ ...options, plugins: Object.freeze([...options.plugins]) })
  return Object.freeze({
    kind: 'stoa-service' as const,
    name: options.name,
    options: frozen,
    clients,
    create(overrides?: Omit<StoaOptions, 'name'>): Stoa<ServiceTypes<L>> {
      const { plugins, clients: _declared, ...rest } = frozen
      const stoa = new Stoa<ServiceTypes<L>>({ ...rest, ...overrides })
      for (const p of plugins) {
        const [plugin, opts] = Array.isArray(p) ? p : [p, undefined]
        ;(stoa.use as (plugin: unknown, options?: unknown) => unknown)(plugin, opts)
      }
      return stoa
    },
  })
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
