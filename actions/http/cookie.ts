import { StoaError } from '../errors.js'

/*
 * Reading the login cookie on a request, and the CSRF check that comes with it: what the web
 * pipeline does with a token that came by cookie. Making the cookie is the web plugin's
 * (`tokenCookie` in stoa/web). See docs/identity.md.
 */

/** Methods that change nothing, which a cross-site page may trigger harmlessly. */
const SAFE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * The value of cookie `name` in a `Cookie` header, or undefined.
 *
 * @example
 * readCookie('theme=dark; stoa_token=a.b.c', 'stoa_token') // 'a.b.c'
 */
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
 *
 * @example
 * checkSameOrigin(req.method ?? 'GET', req.headers, ['https://app.example.com'])
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
