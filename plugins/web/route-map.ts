import { posix } from 'node:path'
import type { z } from 'zod'
import type { Action, Message, PluginSubscription } from '../../actions/index.js'
import { patternString, StoaError, toPattern } from '../../actions/index.js'
import type { HttpMethod, StreamRoute, WebMiddleware, WebRoute } from '../../actions/transport.js'
import { checkPath, HTTP_METHODS } from '../../actions/transport.js'
import type { CompactRoutes, SenecaRouteSet, webOptions } from './options.js'
import type { ConnectionCount } from './stream.js'
import { StreamHub } from './stream.js'

export type { HttpMethod, WebMiddleware, WebRoute } from '../../actions/transport.js'

const METHODS: ReadonlySet<string> = new Set(HTTP_METHODS)
const COMPACT_KEY = /^([A-Za-z]+)\s+(\/\S*)$/

/**
 * Turns route maps, in seneca-web's format or the compact one, into one neutral table. Paths
 * get `prefix` in front. A bad entry throws `INVALID_OPTIONS` naming it; so does the same
 * method and path twice.
 *
 * @example
 * toRouteTable({ 'POST /votes/:id': 'role:vote,cmd:cast' })
 * // [{ method: 'POST', path: '/votes/:id', pattern: 'cmd:cast,role:vote', status: 200 }]
 */
export function toRouteTable(
  maps: CompactRoutes | SenecaRouteSet | readonly (CompactRoutes | SenecaRouteSet)[],
  prefix = '',
): WebRoute[] {
  const list = Array.isArray(maps) ? maps : [maps as CompactRoutes | SenecaRouteSet]
  const out: WebRoute[] = []
  for (const map of list) {
    if (isSenecaRouteSet(map)) fromSeneca(map, out)
    else fromCompact(map as CompactRoutes, out)
  }
  const seen = new Set<string>()
  return out.map((r) => {
    const route = { ...r, path: joinPath(prefix, r.path) }
    const key = `${route.method} ${route.path}`
    const bad = checkPath(route.path)
    if (bad !== undefined) throw invalid(key, `path ${bad}`)
    if (seen.has(key.toLowerCase())) throw invalid(key, 'is mapped twice')
    seen.add(key.toLowerCase())
    return Object.freeze(route)
  })
}

/** Whether a route map is in seneca-web's format (it has `pin` and `map`). */
export function isSenecaRouteSet(map: unknown): map is SenecaRouteSet {
  const m = map as Record<string, unknown>
  return typeof m.pin === 'string' && m.map !== null && typeof m.map === 'object'
}

function fromCompact(map: CompactRoutes, out: WebRoute[]): void {
  for (const [key, target] of Object.entries(map)) {
    const m = COMPACT_KEY.exec(key.trim())
    if (m === null) throw invalid(key, 'must read "METHOD /path", e.g. "POST /votes/:id"')
    const method = m[1]!.toUpperCase()
    if (!METHODS.has(method)) throw invalid(key, `has an unknown method "${m[1]}"`)
    const spec = typeof target === 'string' ? { pattern: target } : target
    out.push({
      method: method as HttpMethod,
      path: m[2]!,
      pattern: canonical(key, spec.pattern),
      status: spec.status ?? 200,
    })
  }
}

/**
 * seneca-web's mapping (lib/mapper.js): the pattern is the pin with its first `:*` replaced by
 * `:<key>`; the path is `alias`, or `prefix/<name or key>/postfix/suffix`; `true` means GET.
 */
function fromSeneca(set: SenecaRouteSet, out: WebRoute[]): void {
  const shared = list(set.middleware)
  for (const [key, spec] of Object.entries(set.map)) {
    if (spec === false) continue
    const pattern = canonical(`${set.pin} ${key}`, set.pin.replace(':*', `:${key}`))
    if (spec === true) {
      const route: WebRoute = {
        method: 'GET',
        path: posix.join('/', set.prefix ?? '', key, set.postfix ?? ''),
        pattern,
        status: 200,
      }
      out.push(shared.length === 0 ? route : { ...route, middleware: shared })
      continue
    }
    const where = `${set.pin} ${key}`
    const raw = spec as Record<string, unknown>
    if (raw.auth !== undefined && raw.auth !== false) {
      throw invalid(
        where,
        "uses seneca-web's auth (passport strategies): put passport.authenticate(...) in its middleware instead",
      )
    }
    if (raw.autoreply === false) {
      throw invalid(where, 'sets autoreply: false: a stoa action answers through its result, not response$')
    }
    const part = spec.name ?? key
    const path =
      spec.alias !== undefined
        ? posix.join('/', spec.alias)
        : posix.join('/', set.prefix ?? '', part, set.postfix ?? '', spec.suffix ?? '')
    const middleware = [...shared, ...list(spec.middleware)]
    const extra: { middleware?: WebMiddleware[]; secure?: { fail?: string | undefined }; redirect?: string } = {}
    if (middleware.length > 0) extra.middleware = middleware
    if (spec.secure !== undefined && spec.secure !== false)
      extra.secure = spec.secure === true ? {} : { fail: spec.secure.fail }
    if (spec.redirect !== undefined) extra.redirect = spec.redirect
    for (const method of HTTP_METHODS) {
      if (raw[method] === true) out.push({ method, path, pattern, status: spec.status ?? 200, ...extra })
    }
  }
}

function list(m: WebMiddleware | readonly WebMiddleware[] | undefined): WebMiddleware[] {
  return m === undefined ? [] : Array.isArray(m) ? [...(m as WebMiddleware[])] : [m as WebMiddleware]
}

function canonical(where: string, pattern: string): string {
  try {
    return patternString(toPattern(pattern))
  } catch (err) {
    throw invalid(where, `has an invalid pattern "${pattern}": ${(err as Error).message}`)
  }
}

function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path
  const joined = posix.join('/', prefix, path)
  // posix.join drops a trailing slash only when the path is the root.
  return joined.length > 1 && joined.endsWith('/') && !path.endsWith('/') ? joined.slice(0, -1) : joined
}

function invalid(route: string, why: string, option = 'routes'): StoaError {
  return new StoaError('INVALID_OPTIONS', `plugin "web": option "${option}": route "${route}" ${why}`, {
    plugin: 'web',
    fields: [option],
    route,
  })
}

/**
 * The stream routes of one loading: a `GET` route per path, each with its own hub, and the
 * `{ each: 'instance' }` subscription that feeds it, so every instance hears every event. A
 * stream path that a route already has is refused, as the same route twice is.
 */
export function streamTable(
  options: z.output<typeof webOptions>,
  routes: readonly WebRoute[],
): { streamRoutes: (WebRoute & { stream: StreamRoute })[]; subscriptions: PluginSubscription[] } {
  const limits = options.stream
  const count: ConnectionCount = { n: 0, max: limits.maxConnections }
  const streamRoutes: (WebRoute & { stream: StreamRoute })[] = []
  const subscriptions: PluginSubscription[] = []
  const taken = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.path.toLowerCase()))
  for (const [raw, spec] of Object.entries(options.streams)) {
    const path = joinPath(options.prefix, raw)
    const where = `GET ${path}`
    const bad = checkPath(path)
    if (bad !== undefined) throw invalid(where, `path ${bad}`, 'streams')
    if (taken.has(path.toLowerCase())) throw invalid(where, 'is mapped twice', 'streams')
    taken.add(path.toLowerCase())
    const s = typeof spec === 'string' ? { event: spec } : spec
    const hub = new StreamHub(limits.bufferSize, count)
    const stream: StreamRoute = Object.freeze({
      event: s.event,
      map: s.map === undefined ? undefined : canonical(where, s.map),
      open: s.open === undefined ? undefined : canonical(where, s.open),
      heartbeatMs: limits.heartbeatMs,
      maxBufferedBytes: limits.maxBufferedBytes,
      maxFrameBytes: limits.maxFrameBytes,
      allowedOrigins: limits.allowedOrigins,
      source: hub,
    })
    streamRoutes.push({ method: 'GET', path, pattern: patternString({ event: s.event }), status: 200, stream })
    // The subscriber gets the event's data as sent; its name is the context's.
    const feed: Action<Message, unknown> = (msg, ctx) => {
      hub.publish(ctx.event ?? s.event, msg)
    }
    subscriptions.push({ event: s.event, handler: feed, each: 'instance' })
  }
  return { streamRoutes, subscriptions }
}
