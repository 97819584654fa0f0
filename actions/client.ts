import type { ActionTypes } from './action.js'
import type { PluginTypes, StoaOptions } from './kernel.js'
import { Stoa } from './kernel.js'
import type { Message } from './pattern.js'
import type { Plugin } from './plugin.js'
import type { Service } from './service.js'
import type { Transport } from './transport.js'

/**
 * The typed actions of what a client is made for: a service (`typeof service`), an instance
 * (`typeof stoa`), a plugin, or an action type map itself.
 */
export type ClientTypes<S> =
  S extends Service<infer T>
    ? T
    : S extends Stoa<infer T>
      ? T
      : S extends Plugin<string, any, any, any>
        ? PluginTypes<S>
        : S extends ActionTypes
          ? S
          : {}

/**
 * A typed client of another service, with no code generated: an instance that acts through
 * `transport` for the patterns in `pins`, whose `act` checks each message and infers each
 * result from the service's own type, the way tRPC infers from a router type. Import the
 * service's type only (`import type`), so none of its code or dependencies load here. Call
 * `ready()` before the first call (acts made before it wait) and `close()` when done.
 *
 * @example
 * const client = await createClient<typeof math>(createHttpTransport({ url }), ['role:math']).ready()
 * const sum = await client.act('role:math,cmd:sum', { left: 1, right: 2 }, { token })
 */
export function createClient<S>(
  transport: Transport,
  pins: readonly (string | Message)[],
  options: StoaOptions = {},
): Stoa<ClientTypes<S>> {
  const stoa = new Stoa<ClientTypes<S>>({ name: 'client', ...options })
  stoa.client(transport, pins)
  return stoa
}
