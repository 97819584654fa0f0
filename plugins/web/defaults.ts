import type { z } from 'zod'
import type { webOptions } from './options.js'

type Output = z.output<typeof webOptions>

/** The web plugin's defaults, given once: the options schema and {@link quickWebOptions} both use them. */
export const WEB_DEFAULTS = Object.freeze({
  prefix: '',
  /** 1 MiB. */
  maxBodyBytes: 1024 * 1024,
  headers: Object.freeze(['user-agent', 'x-forwarded-for']),
  message: 'flat' as const,
})

/** The stream routes' limits by default: see `streamLimits` in options.ts. */
export const STREAM_DEFAULTS = Object.freeze({
  heartbeatMs: 15_000,
  bufferSize: 100,
  /** 256 KiB. */
  maxBufferedBytes: 256 * 1024,
  maxConnections: 10_000,
  /** 64 KiB. */
  maxFrameBytes: 64 * 1024,
})

/** The options `quickWebOptions` checks itself; any other key sends the input to the full schema. */
const QUICK_KEYS = new Set(['routes', 'prefix', 'maxBodyBytes', 'headers', 'timeoutMs', 'message'])

/**
 * The web plugin's options validated without the options schema, for the usual ones: compact
 * routes (`'POST /votes/:id': 'role:vote,cmd:cast'` or `{ pattern, status }`) and the scalar
 * limits. The output is what the schema gives for the same input, its defaults filled;
 * `undefined` for anything else (seneca-web maps, lists of maps, streams, CORS, cookies, any
 * value out of bounds), which the schema then checks and names.
 */
export function quickWebOptions(input: unknown): Output | undefined {
  if (!isPlain(input)) return undefined
  for (const key of Object.keys(input)) if (!QUICK_KEYS.has(key) || input[key] === undefined) return undefined
  const { routes = {}, prefix = WEB_DEFAULTS.prefix, maxBodyBytes = WEB_DEFAULTS.maxBodyBytes, timeoutMs } = input
  const headers = input.headers ?? WEB_DEFAULTS.headers
  const message = input.message ?? WEB_DEFAULTS.message
  const compact = compactRoutes(routes)
  if (compact === undefined || typeof prefix !== 'string') return undefined
  if (!positiveInt(maxBodyBytes) || (timeoutMs !== undefined && !positiveInt(timeoutMs))) return undefined
  if (!Array.isArray(headers) || !headers.every((h) => typeof h === 'string')) return undefined
  if (message !== 'flat' && message !== 'seneca-web') return undefined
  return {
    routes: compact,
    streams: {},
    stream: { ...STREAM_DEFAULTS, allowedOrigins: [] },
    prefix,
    maxBodyBytes,
    headers: headers.map((h: string) => h.toLowerCase()),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    message,
  }
}

/** A copy of compact routes, each entry checked; undefined for anything the schema may read otherwise. */
function compactRoutes(routes: unknown): Record<string, string | { pattern: string; status?: number }> | undefined {
  // A `pin` makes the map a seneca-web route set, when it is one: the schema decides.
  if (!isPlain(routes) || 'pin' in routes) return undefined
  const out: Record<string, string | { pattern: string; status?: number }> = {}
  for (const [key, value] of Object.entries(routes)) {
    if (typeof value === 'string') out[key] = value
    else if (isPlain(value) && typeof value.pattern === 'string') {
      const keys = Object.keys(value)
      if (!keys.every((k) => k === 'pattern' || k === 'status')) return undefined
      if (!('status' in value)) out[key] = { pattern: value.pattern }
      else if (Number.isSafeInteger(value.status) && value.status >= 200 && value.status <= 299)
        out[key] = { pattern: value.pattern, status: value.status }
      else return undefined
    } else return undefined
  }
  return out
}

function isPlain(value: unknown): value is Record<string, any> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function positiveInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}
