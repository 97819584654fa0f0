import { posix } from 'node:path'
import { StoaError, patternString, toPattern } from '../../actions/index.js'
import type { CompactRoutes, SenecaRouteSet } from './options.js'
import { HTTP_METHODS } from './options.js'
import { checkPath } from './match.js'

/** An HTTP method a route answers. */
export type HttpMethod = (typeof HTTP_METHODS)[number]

/**
 * One route of the neutral table every route-map format becomes: what express (or an API
 * Gateway handler) mounts, and what `role:web,cmd:routes` lists.
 */
export interface WebRoute {
  readonly method: HttpMethod
  /** An express-style path: `/votes/:id`. */
  readonly path: string
  /** The canonical pattern of the action the route runs. */
  readonly pattern: string
  /** The status of a successful answer: 200 unless the route asks for 201, 202... */
  readonly status: number
}

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
export function toRouteTable(maps: CompactRoutes | SenecaRouteSet | readonly (CompactRoutes | SenecaRouteSet)[], prefix = ''): WebRoute[] {
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
    out.push({ method: method as HttpMethod, path: m[2]!, pattern: canonical(key, spec.pattern), status: spec.status ?? 200 })
  }
}

/**
 * seneca-web's mapping (lib/mapper.js): the pattern is the pin with its first `:*` replaced by
 * `:<key>`; the path is `alias`, or `prefix/<name or key>/postfix/suffix`; `true` means GET.
 */
function fromSeneca(set: SenecaRouteSet, out: WebRoute[]): void {
  for (const [key, spec] of Object.entries(set.map)) {
    if (spec === false) continue
    const pattern = canonical(`${set.pin} ${key}`, set.pin.replace(':*', `:${key}`))
    if (spec === true) {
      out.push({ method: 'GET', path: posix.join('/', set.prefix ?? '', key, set.postfix ?? ''), pattern, status: 200 })
      continue
    }
    const part = spec.name ?? key
    const path = spec.alias !== undefined ? posix.join('/', spec.alias) : posix.join('/', set.prefix ?? '', part, set.postfix ?? '', spec.suffix ?? '')
    for (const method of HTTP_METHODS) {
      if ((spec as Record<string, unknown>)[method] === true) out.push({ method, path, pattern, status: spec.status ?? 200 })
    }
  }
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

function invalid(route: string, why: string): StoaError {
  return new StoaError('INVALID_OPTIONS', `plugin "web": option "routes": route "${route}" ${why}`, { plugin: 'web', fields: ['routes'], route })
}
