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
  // Per method: literal paths by their lowercase form without a trailing slash, and the
  // parameter routes in table order. A request's path is looked up as sent first (it is
  // usually the canonical form already), so most requests build no lookup key.
  const literal = new Map<string, Map<string, R>>()
  const dynamic = new Map<string, { re: RegExp; keys: string[]; route: R }[]>()
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
      let paths = literal.get(route.method)
      if (paths === undefined) literal.set(route.method, (paths = new Map()))
      const key = trim(route.path).toLowerCase()
      if (!paths.has(key)) paths.set(key, route)
    } else {
      let list = dynamic.get(route.method)
      if (list === undefined) dynamic.set(route.method, (list = []))
      list.push({ re: new RegExp(`^${trim(source)}/?$`, 'i'), keys, route })
    }
  }
  const find = (method: string, path: string): Match<R> | undefined => {
    const paths = literal.get(method)
    if (paths !== undefined) {
      let hit = paths.get(path)
      if (hit === undefined) {
        const key = trim(path).toLowerCase()
        if (key !== path) hit = paths.get(key)
      }
      if (hit !== undefined) return { route: hit, params: {} }
    }
    const list = dynamic.get(method)
    if (list === undefined) return undefined
    for (let j = 0; j < list.length; j++) {
      const d = list[j]!
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
  if (value.indexOf('%') < 0) return value
  try {
    return decodeURIComponent(value)
  } catch {
    throw new StoaError('INVALID_MESSAGE', 'a path parameter is not valid percent-encoding')
  }
}
