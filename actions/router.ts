import type { Message, Pattern } from './pattern.js'
import { globToRegExp, isGlob, patternString } from './pattern.js'

/** One registered pattern and what it leads to. */
export interface Route<T> {
  readonly pattern: Pattern
  /** The canonical pattern string, e.g. `cmd:sum,role:math`. */
  readonly key: string
  data: T
}

/**
 * All routes whose patterns have the same set of keys. Exact values live in nested maps, one
 * level per key, so a lookup is one map probe per key however many patterns share the shape,
 * with no string built on the way (message values are usually interned strings whose hash is
 * cached). Patterns with glob values are tried after that, most exact values first.
 */
interface Shape<T> {
  readonly keys: readonly string[]
  readonly exact: Level<T>
  exactCount: number
  readonly globs: GlobRoute<T>[]
}

/** One level of a shape's exact-value tree: the last level holds routes. */
type Level<T> = Map<string, Level<T> | Route<T>>

interface GlobRoute<T> {
  readonly route: Route<T>
  /** Per key, in the shape's key order: the exact string, or a matcher for a glob. */
  readonly tests: readonly (string | RegExp)[]
  readonly exactCount: number
  /** Characters of the glob values that are not wildcards: `s?m` is more specific than `*`. */
  readonly literals: number
}

/** A message value as the router compares it, or undefined if it cannot match any pattern. */
function valueKey(v: unknown): string | undefined {
  const t = typeof v
  if (t === 'string') return v as string
  if (t === 'number' || t === 'boolean') return String(v)
  return undefined
}

/**
 * Orders shapes most specific first: more keys first; among shapes with as many keys, the one
 * whose sorted key list comes first alphabetically, as patrun's trie prefers earlier keys.
 */
function compareShapes(a: readonly string[], b: readonly string[]): number {
  if (a.length !== b.length) return b.length - a.length
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  }
  return 0
}

/**
 * Finds the most specific pattern contained in a message: the one with most pairs; ties go to
 * the pattern whose keys come first alphabetically, then to exact values over globs, then to
 * the glob with more literal characters. The
 * answer is the same whatever order patterns were added in.
 *
 * @example
 * const r = new Router<string>()
 * r.add({ role: 'math' }, 'A'); r.add({ role: 'math', cmd: 'sum' }, 'B')
 * r.find({ role: 'math', cmd: 'sum', left: 1 })?.data // 'B'
 */
export class Router<T> {
  private shapes: Shape<T>[] = []
  private readonly byKey = new Map<string, Route<T>>()
  /** How many patterns use each key: the keys a lookup reads, which an error may name. */
  private readonly keyUse = new Map<string, number>()

  /** Number of registered patterns. */
  get size(): number {
    return this.byKey.size
  }

  /**
   * Registers `data` under `pattern`. If the identical pattern is already registered, its data
   * is replaced and the previous data returned, which is how `prior` finds what it overrides.
   */
  add(pattern: Pattern, data: T): { route: Route<T>; previous: T | undefined } {
    const key = patternString(pattern)
    const existing = this.byKey.get(key)
    if (existing !== undefined) {
      const previous = existing.data
      existing.data = data
      return { route: existing, previous }
    }
    const route: Route<T> = { pattern, key, data }
    this.byKey.set(key, route)
    const keys = Object.keys(pattern).sort()
    for (const k of keys) this.keyUse.set(k, (this.keyUse.get(k) ?? 0) + 1)
    let shape = this.shapes.find((s) => compareShapes(s.keys, keys) === 0)
    if (shape === undefined) {
      shape = { keys, exact: new Map(), exactCount: 0, globs: [] }
      this.shapes.push(shape)
      this.shapes.sort((a, b) => compareShapes(a.keys, b.keys))
    }
    if (keys.some((k) => isGlob(pattern[k]))) {
      const tests = keys.map((k) => (isGlob(pattern[k]) ? globToRegExp(String(pattern[k])) : String(pattern[k])))
      const literals = keys.reduce(
        (n, k) => n + (isGlob(pattern[k]) ? String(pattern[k]).replace(/[*?]/g, '').length : 0),
        0,
      )
      shape.globs.push({ route, tests, exactCount: tests.filter((t) => typeof t === 'string').length, literals })
      shape.globs.sort(
        (a, b) =>
          b.exactCount - a.exactCount ||
          b.literals - a.literals ||
          (a.route.key < b.route.key ? -1 : a.route.key > b.route.key ? 1 : 0),
      )
    } else {
      let level = shape.exact
      for (let i = 0; i < keys.length - 1; i++) {
        const v = String(pattern[keys[i]!])
        let next = level.get(v) as Level<T> | undefined
        if (next === undefined) level.set(v, (next = new Map()))
        level = next
      }
      level.set(String(pattern[keys[keys.length - 1]!]), route)
      shape.exactCount++
    }
    return { route, previous: undefined }
  }

  /** Removes the route registered under exactly this pattern; returns whether there was one. */
  remove(pattern: Pattern): boolean {
    const key = patternString(pattern)
    const route = this.byKey.get(key)
    if (route === undefined) return false
    this.byKey.delete(key)
    const keys = Object.keys(pattern).sort()
    for (const k of keys) {
      const n = this.keyUse.get(k)! - 1
      if (n === 0) this.keyUse.delete(k)
      else this.keyUse.set(k, n)
    }
    const i = this.shapes.findIndex((s) => compareShapes(s.keys, keys) === 0)
    const shape = this.shapes[i]!
    const g = shape.globs.findIndex((x) => x.route === route)
    if (g >= 0) shape.globs.splice(g, 1)
    else {
      let level = shape.exact
      for (let k = 0; k < keys.length - 1; k++) level = level.get(String(pattern[keys[k]!])) as Level<T>
      level.delete(String(pattern[keys[keys.length - 1]!]))
      shape.exactCount--
    }
    if (shape.exactCount === 0 && shape.globs.length === 0) this.shapes.splice(i, 1)
    return true
  }

  /** The keys any registered pattern uses: all a lookup ever reads of a message. */
  keys(): IterableIterator<string> {
    return this.keyUse.keys()
  }

  /** The route registered under exactly this pattern, if any. */
  exact(pattern: Pattern): Route<T> | undefined {
    return this.byKey.get(patternString(pattern))
  }

  /** The most specific route whose pattern the message contains, if any. */
  find(msg: Readonly<Message>): Route<T> | undefined {
    const shapes = this.shapes
    outer: for (let s = 0; s < shapes.length; s++) {
      const shape = shapes[s]!
      const keys = shape.keys
      let node: Level<T> | Route<T> | undefined = shape.exact
      for (let k = 0; k < keys.length; k++) {
        const v = valueKey(msg[keys[k]!])
        // A key the message lacks rules out the whole shape, globs included.
        if (v === undefined) continue outer
        if (node !== undefined) node = (node as Level<T>).get(v)
      }
      if (node !== undefined) return node as Route<T>
      if (shape.globs.length > 0) {
        const found = matchGlobs(shape, msg)
        if (found !== undefined) return found
      }
    }
    return undefined
  }

  /**
   * Every route whose pattern contains all pairs of `partial` (globs in `partial` match
   * values), in canonical-string order; all routes when `partial` is omitted.
   */
  list(partial?: Readonly<Record<string, unknown>>): Route<T>[] {
    const out: Route<T>[] = []
    const filters =
      partial === undefined
        ? []
        : Object.keys(partial).map((k) => {
            const v = partial[k]
            return { k, test: isGlob(v) ? globToRegExp(String(v)) : String(v) }
          })
    for (const route of this.byKey.values()) {
      const ok = filters.every(({ k, test }) => {
        if (!(k in route.pattern)) return false
        const v = String(route.pattern[k])
        return typeof test === 'string' ? v === test : test.test(v)
      })
      if (ok) out.push(route)
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }
}

function matchGlobs<T>(shape: Shape<T>, msg: Readonly<Message>): Route<T> | undefined {
  outer: for (const g of shape.globs) {
    for (let k = 0; k < shape.keys.length; k++) {
      const v = valueKey(msg[shape.keys[k]!])
      const t = g.tests[k]!
      if (v === undefined || (typeof t === 'string' ? v !== t : !t.test(v))) continue outer
    }
    return g.route
  }
  return undefined
}
