import type JsonWebToken from 'jsonwebtoken'
import { loadPeer, requirePeer } from '../../actions/transport.js'

type Jwt = typeof JsonWebToken

/** jsonwebtoken once loaded: a cache of the module, as node's own, not state of a loading. */
let loaded: Jwt | undefined

/**
 * Loads jsonwebtoken when the jwt plugin starts (its `init`), so a missing install is named at
 * startup with its install command rather than at the first call.
 */
export async function loadJsonwebtoken(): Promise<Jwt> {
  loaded ??= (await loadPeer<{ default: Jwt }>('jsonwebtoken', 'stoa/jwt')).default
  return loaded
}

/**
 * jsonwebtoken for the synchronous paths (`signToken` may be called by a service that never
 * loads the plugin): the module the plugin loaded, or loaded here on first use.
 */
export function jsonwebtoken(): Jwt {
  loaded ??= requirePeer<Jwt>('jsonwebtoken', 'stoa/jwt')
  return loaded
}
