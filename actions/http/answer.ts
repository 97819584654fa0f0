import type { ServerResponse } from 'node:http'
import type { StoaErrorJSON } from '../errors.js'
import { ERRORS, StoaError, toStoaError } from '../errors.js'
import { retryAfter } from '../transport-kit.js'
import type { Match } from './match.js'
import type { ServedRoute } from './routes.js'
import { HTTP_METHODS } from './routes.js'

/*
 * How every HTTP server of stoa answers: the status and headers of an error, said once, and
 * the web body shape. The body of an error is a per-wire choice, documented with each wire:
 *   - web routes (serveWeb, mountWeb, API Gateway): `{ "error": { code, message, details? } }`;
 *   - the HTTP transport and the probe servers: the error itself, `{ code, message, details? }`,
 *     which a stoa HTTP client reads back as a reply.
 */

/** What to answer: a status, headers and a body that is already serialized. */
export interface WebResponse {
  status: number
  headers: Record<string, string | string[]>
  /** The JSON text, or undefined for an empty body (204, HEAD, or an action that returned nothing). */
  body: string | undefined
}

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * The status and headers of an error answer, whatever its body: the status of its code, and
 * `WWW-Authenticate` on a 401 (RFC 6750 §3: the scheme, and `invalid_token` when a token was
 * given but bad), `Retry-After` when the error says when to come back, `Allow` on a 405 from
 * its `details.allow`, and on a 429 `RATE_LIMITED` the IETF `RateLimit-Policy` and `RateLimit`
 * fields (draft-ietf-httpapi-ratelimit-headers: the policy's quota `q` per window `w`, and
 * `r=0` calls remaining for `t` seconds) from its `details`.
 *
 * @example
 * const { status, headers } = errorHead(reply.error)
 * res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(reply.error))
 */
export function errorHead(error: Pick<StoaErrorJSON, 'code' | 'details'>): {
  status: number
  headers: Record<string, string>
} {
  const headers: Record<string, string> = {}
  const details = error.details
  if (error.code === 'UNAUTHENTICATED')
    headers['www-authenticate'] =
      details === undefined || details.reason === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"'
  else if (error.code === 'METHOD_NOT_ALLOWED' && Array.isArray(details?.allow))
    headers.allow = details.allow.join(', ')
  const after = retryAfter(error)
  if (after !== undefined) headers['retry-after'] = String(after)
  if (error.code === 'RATE_LIMITED' && after !== undefined) rateLimitFields(details, after, headers)
  return { status: ERRORS[error.code]?.http ?? 500, headers }
}

/** `RateLimit-Policy` and `RateLimit` for a refusal whose details name its budget. */
function rateLimitFields(details: Record<string, unknown> | undefined, after: number, headers: Record<string, string>) {
  const quota = details?.limit
  const window = details?.windowSec
  if (!Number.isSafeInteger(quota) || !Number.isSafeInteger(window)) return
  const name = typeof details?.policy === 'string' ? details.policy : ''
  headers['ratelimit-policy'] = rateLimitPolicy(name, quota as number, window as number)
  // A token bucket is whole again later than it has a token: `resetMs` says when, if given.
  const reset = details?.resetMs
  headers.ratelimit = rateLimitState(name, 0, Number.isSafeInteger(reset) ? Math.ceil((reset as number) / 1000) : after)
}

/**
 * A rate-limit policy as the IETF `RateLimit-Policy` field lists it
 * (draft-ietf-httpapi-ratelimit-headers): its name, its quota `q` per window `w` seconds.
 *
 * @example
 * rateLimitPolicy('cmd:cast,role:vote', 20, 10) // '"cmd:cast,role:vote";q=20;w=10'
 */
export function rateLimitPolicy(name: string, quota: number, windowSec: number): string {
  return `${policyName(name)};q=${quota};w=${windowSec}`
}

/**
 * Where a caller stands in a policy, as the IETF `RateLimit` field lists it: `r` calls left,
 * for `t` more seconds (then the quota is whole again). A refusal is `r=0`.
 *
 * @example
 * rateLimitState('cmd:cast,role:vote', 17, 8) // '"cmd:cast,role:vote";r=17;t=8'
 */
export function rateLimitState(name: string, remaining: number, resetSec: number): string {
  return `${policyName(name)};r=${remaining};t=${resetSec}`
}

/** Policy names already quoted: a limited call answers with its policy's name every time. */
const quotedNames = new Map<string, string>()

/** A policy name as a structured-field string: printable ASCII, `"` and `\` escaped. */
function policyName(name: string): string {
  const known = quotedNames.get(name)
  if (known !== undefined) return known
  const plain = name.replace(/[^\x20-\x7e]/g, '')
  const quoted = `"${(plain === '' ? 'default' : plain).replace(/["\\]/g, '\\$&')}"`
  // Names are the limited patterns, a handful: the bound only keeps an odd caller from growing it.
  if (quotedNames.size < 256) quotedNames.set(name, quoted)
  return quoted
}

/**
 * The web answer for an error: {@link errorHead} and `{ error: { code, message, details? } }`.
 * Anything that is not a StoaError is answered as `ACTION_FAILED` without its message.
 *
 * @example
 * errorResponse(new StoaError('FORBIDDEN', 'not yours')).status // 403
 */
export function errorResponse(err: unknown, requestId?: string): WebResponse {
  const e = toStoaError(err).toJSON()
  const body = JSON.stringify({ error: e })
  const { status, headers } = errorHead(e)
  headers['content-type'] = JSON_TYPE
  headers['content-length'] = String(Buffer.byteLength(body))
  if (requestId !== undefined) headers['x-request-id'] = requestId
  return { status, headers, body }
}

/**
 * The error for a request with the wrong method: `METHOD_NOT_ALLOWED` (405) with the methods
 * the path answers in `details.allow`, which {@link errorHead} turns into `Allow`.
 *
 * @example
 * sendResponse(res, errorResponse(methodNotAllowed('GET', '/act', ['POST'])))
 */
export function methodNotAllowed(method: string, _path: string, allow: readonly string[]): StoaError {
  // The path is the caller's and may hold data (an id, an address): the answer never repeats it.
  const header = allow.join(', ')
  return new StoaError('METHOD_NOT_ALLOWED', `no route for ${method} on this path; it answers ${header}`, {
    allow: [...allow],
  })
}

/**
 * The answer for a request no route took, where stoa owns the server: a path some route has,
 * asked with another method, gets 204 to `OPTIONS` and 405 ({@link methodNotAllowed})
 * otherwise, each with `Allow` (HEAD wherever GET is, and OPTIONS); any other path 404.
 * `find` is the route table's matcher ({@link createMatcher}).
 *
 * @example
 * const find = createMatcher(routes)
 * unmatchedResponse(find, 'DELETE', '/sum').headers.allow // 'GET, HEAD, OPTIONS'
 */
export function unmatchedResponse(
  find: (method: string, path: string) => Match<ServedRoute> | undefined,
  method: string,
  path: string,
): WebResponse {
  const allow: string[] = []
  for (const m of HTTP_METHODS) {
    if (m === 'OPTIONS') continue
    try {
      if (find(m, path) !== undefined) allow.push(m)
    } catch {
      // A route's path matched but its parameter is not valid percent-encoding: the path
      // exists all the same.
      allow.push(m)
    }
  }
  if (allow.length === 0) return errorResponse(new StoaError('NOT_FOUND', `no route for ${method} on this path`))
  allow.push('OPTIONS')
  if (method === 'OPTIONS') return { status: 204, headers: { allow: allow.join(', ') }, body: undefined }
  return errorResponse(methodNotAllowed(method, path, allow))
}

/** A 302 to `location`, as express's res.redirect answers (seneca-web's redirect and secure.fail). */
export function redirectResponse(location: string): WebResponse {
  return { status: 302, headers: { location, 'content-length': '0' }, body: undefined }
}

/**
 * Writes an answer on node's response, unless something (a middleware) already answered or the
 * client went away. Node sends no body to a HEAD request, whatever `body` holds.
 *
 * @example
 * sendResponse(res, errorResponse(new StoaError('NOT_FOUND', 'no such page')))
 */
export function sendResponse(res: ServerResponse, answer: WebResponse): void {
  if (res.headersSent || res.destroyed) return
  try {
    res.writeHead(answer.status, answer.headers)
    res.end(answer.body)
  } catch {
    // Headers were checked when the answer was built; should node still refuse one, drop
    // this connection rather than the process.
    res.destroy()
  }
}
