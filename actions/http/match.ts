import { StoaError } from '../errors.js'

/** A route found for a request, with its decoded path parameters. */
export interface Match<R> {
  readonly route: R
  readonly params: Record<string, string>
}

/** What the matcher needs of a route. */
interface Routable {
  readonly method: string
  readonly path: string
}

const PARAM = /^:([A-Za-z_$][\w$]*)$/
/** Characters with a meaning in express or path-to-regexp paths that stoa routes do not use. */
const SPECIAL = /[*?(){}[\]+!:]/

/**
 * Checks a route path: it starts with `/` and each segment is literal or a `:name` parameter.
 * The same paths then mean the same thing on express, API Gateway and stoa's own matcher.
 */
export function checkPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"'
  for (const segment of path.split('/').slice(1)) {
    if (PARAM.test(segment)) continue
    if (SPECIAL.test(segment)) return `has a segment "${segment}" that is neither literal nor ":name"`
  }
  return undefined
}

/**
 * Finds the route for a method and path the way express does by default: case-insensitive, a
 * trailing slash optional, HEAD answered by a GET route. Literal paths are one map lookup; paths
 * with parameters are tried in table order.
 *
 * @example
 * const find = createMatcher([{ method: 'POST', path: '/votes/:id' }])
 * find('POST', '/votes/7') // { route, params: { id: '7' } }
 */
export function createMatcher<R extends Routable>(
  routes: readonly R[],
): (method: string, path: string) => Match<R> | undefined {
  const literal = new Map<string, R>()
  const dynamic: { method: string; re: RegExp; keys: string[]; route: R }[] = []
  for (const route of routes) {
    const keys: string[] = []
    const source = route.path
      .split('/')
      .map((segment) => {
        const m = PARAM.exec(segment)
        if (m === null) return segment.replace(/[.\\^$|]/g, '\\$&')
        keys.push(m[1]!)
        return '([^/]+)'
      })
      .join('/')
    if (keys.length === 0) {
      const key = `${route.method} ${trim(route.path).toLowerCase()}`
      if (!literal.has(key)) literal.set(key, route)
    } else dynamic.push({ method: route.method, re: new RegExp(`^${trim(source)}/?$`, 'i'), keys, route })
  }
  const find = (method: string, path: string): Match<R> | undefined => {
    const hit = literal.get(`${method} ${trim(path).toLowerCase()}`)
    if (hit !== undefined) return { route: hit, params: {} }
    for (const d of dynamic) {
      if (d.method !== method) continue
      const m = d.re.exec(path)
      if (m === null) continue
      const params: Record<string, string> = {}
      for (let i = 0; i < d.keys.length; i++) params[d.keys[i]!] = decode(m[i + 1]!)
      return { route: d.route, params }
    }
    return undefined
  }
  return (method, path) => find(method, path) ?? (method === 'HEAD' ? find('GET', path) : undefined)
}

function trim(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new StoaError('INVALID_MESSAGE', 'a path parameter is not valid percent-encoding')
  }
}
