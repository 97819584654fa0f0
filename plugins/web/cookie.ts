import { StoaError } from '../../actions/index.js'

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

/** Methods that change nothing, which a cross-site page may trigger harmlessly. */
const SAFE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

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

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue
    const value = part.slice(eq + 1).trim()
    return value === '' ? undefined : value
  }
  return undefined
}

/**
 * The CSRF defence for a request authenticated by cookie: a state-changing method must come from
 * an allowed origin. Browsers send `Origin` on every cross-origin POST and on same-origin ones;
 * `Sec-Fetch-Site` is checked when it is missing; a request with neither is refused, since a
 * client that is not a browser can send its token in the `Authorization` header instead. With
 * no `allowedOrigins`, only the request's own host is allowed. Throws `FORBIDDEN` (403).
 */
export function checkSameOrigin(
  method: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  allowedOrigins: readonly string[],
): void {
  if (SAFE.has(method)) return
  const origin = first(headers.origin)
  if (origin !== undefined) {
    if (allowedOrigins.length > 0 ? allowedOrigins.includes(origin) : sameHost(origin, first(headers.host))) return
    throw crossSite()
  }
  const site = first(headers['sec-fetch-site'])
  if (site === 'same-origin') return
  throw crossSite()
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    return new URL(origin).host === host
  } catch {
    return false
  }
}

function crossSite(): StoaError {
  return new StoaError('FORBIDDEN', 'a cross-site request may not use the login cookie to change anything', {
    reason: 'cross-site',
  })
}

function first(v: string | readonly string[] | undefined): string | undefined {
  return v === undefined || typeof v === 'string' ? v : v[0]
}
