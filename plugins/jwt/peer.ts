import { createRequire } from 'node:module'
import type JsonWebToken from 'jsonwebtoken'
import { loadPeer, StoaError } from '../../actions/transport.js'

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
  if (loaded !== undefined) return loaded
  try {
    loaded = createRequire(import.meta.url)('jsonwebtoken') as Jwt
  } catch (err) {
    const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown }
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'jsonwebtoken'")) {
      throw new StoaError(
        'INVALID_PLUGIN',
        'stoa/jwt needs the package jsonwebtoken, which is not installed: npm install jsonwebtoken',
        { package: 'jsonwebtoken', entry: 'stoa/jwt' },
        { cause: err },
      )
    }
    throw err
  }
  return loaded
}
