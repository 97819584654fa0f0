import { StoaError } from '../../actions/index.js'

export { checkSameOrigin, readCookie } from '../../actions/transport.js'

/**
 * The login cookie: the identity token kept by the browser, scoped to a parent domain so that
 * every subdomain's gateway receives it, and the CSRF defence that comes with it. See
 * docs/identity.md.
 */

/** The cookie's default name. */
export const TOKEN_COOKIE = 'stoa_token'

/** A cookie name (RFC 6265 token). */
export const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The longest a login cookie may live: 30 days. */
const MAX_AGE_LIMIT_SEC = 30 * 24 * 3600

/** How {@link tokenCookie} scopes the cookie. */
export interface TokenCookieOptions {
  /** Parent domain, e.g. `example.com`: the browser sends it to every `*.example.com`. Default: this host only. */
  domain?: string
  /** Seconds the browser keeps it: match the token's lifetime. Default 3600, at most 30 days. */
  maxAgeSec?: number
  /** `Secure` (HTTPS only). Default: on, except for `localhost` domains. */
  secure?: boolean
  /** Default `stoa_token`. */
  name?: string
  /** Default `/`. */
  path?: string
}

/**
 * The `Set-Cookie` value that keeps a token in the browser: `HttpOnly` (no script reads it),
 * `SameSite=Lax` (other sites' pages do not send it on their POSTs), `Secure` outside
 * localhost, a bounded `Max-Age`, scoped to `domain`. A login action returns it under
 * `http$.headers['set-cookie']`.
 *
 * @example
 * return { ok: true, http$: { headers: { 'set-cookie': tokenCookie(token, { domain: 'example.com', maxAgeSec: 3600 }) } } }
 */
export function tokenCookie(token: string, options: TokenCookieOptions = {}): string {
  const maxAge = options.maxAgeSec ?? 3600
  if (!Number.isInteger(maxAge) || maxAge < 1 || maxAge > MAX_AGE_LIMIT_SEC) {
    throw new StoaError('INVALID_OPTIONS', `maxAgeSec must be a whole number of seconds from 1 to ${MAX_AGE_LIMIT_SEC}`)
  }
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw new StoaError('INVALID_MESSAGE', 'a token cookie holds a JWT only')
  return attributes(`${checkedName(options.name)}=${token}`, options, maxAge)
}

/**
 * The `Set-Cookie` value that removes the login cookie (logout): the same name, domain and path,
 * emptied and expired.
 *
 * @example
 * return { http$: { headers: { 'set-cookie': clearTokenCookie({ domain: 'example.com' }) } } }
 */
export function clearTokenCookie(options: Omit<TokenCookieOptions, 'maxAgeSec'> = {}): string {
  return attributes(`${checkedName(options.name)}=`, options, 0)
}

function attributes(pair: string, options: TokenCookieOptions, maxAge: number): string {
  const parts = [pair]
  if (options.domain !== undefined) {
    if (!/^[A-Za-z0-9.-]+$/.test(options.domain))
      throw new StoaError('INVALID_OPTIONS', 'the cookie domain must be a host name')
    parts.push(`Domain=${options.domain}`)
  }
  parts.push(`Path=${options.path ?? '/'}`, `Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Lax')
  if (options.secure ?? !isLocal(options.domain)) parts.push('Secure')
  return parts.join('; ')
}

function checkedName(name: string | undefined): string {
  const n = name ?? TOKEN_COOKIE
  if (!COOKIE_NAME.test(n)) throw new StoaError('INVALID_OPTIONS', `"${n}" is not a cookie name`)
  return n
}

function isLocal(domain: string | undefined): boolean {
  return domain !== undefined && (domain === 'localhost' || domain.endsWith('.localhost'))
}
