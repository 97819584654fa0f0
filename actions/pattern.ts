import { StoaError } from './errors.js'

/** A value a pattern can hold: compared as a string, as Seneca does. Strings may be globs. */
export type PatternValue = string | number | boolean

/** A pattern as an object: `{ role: 'math', cmd: 'sum' }`. */
export type Pattern = Readonly<Record<string, PatternValue>>

/** A message: the user's data, with the pattern's pairs among its keys. */
export type Message = Record<string, unknown>

/** Keys that could reach an object's prototype; refused in every pattern. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const KEY = /^[A-Za-z_$][\w$.-]*$/

/**
 * Parses a pattern string the way Seneca's jsonic reads it: `role:math,cmd:sum,left:1`.
 * Numbers, `true`, `false` and `null` are typed; `'quoted'` and `"quoted"` values are strings;
 * anything else is a bare string (so `cmd:*` is a glob). Pairs are separated by commas or
 * spaces. Malformed input throws `INVALID_PATTERN` naming the position.
 *
 * @example
 * parsePattern('role:math,cmd:sum,left:1') // { role: 'math', cmd: 'sum', left: 1 }
 */
export function parsePattern(text: string): Message {
  // A null-prototype object: whatever the keys, nothing here can reach Object.prototype.
  const out: Message = Object.create(null)
  let i = 0
  const n = text.length
  const fail = (why: string): never => {
    throw new StoaError('INVALID_PATTERN', `invalid pattern "${text}": ${why} at ${i}`, { pattern: text, at: i })
  }
  const skipSpace = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n')) i++
  }
  const quoted = (): string => {
    const q = text[i]
    const start = ++i
    while (i < n && text[i] !== q) i += text[i] === '\\' ? 2 : 1
    if (i >= n) fail('unterminated string')
    const raw = text.slice(start, i++)
    return raw.replace(/\\(.)/g, '$1')
  }
  skipSpace()
  while (i < n) {
    let key: string
    if (text[i] === '"' || text[i] === "'") key = quoted()
    else {
      const start = i
      while (i < n && text[i] !== ':' && text[i] !== ',' && text[i] !== ' ') i++
      key = text.slice(start, i)
      if (!KEY.test(key)) fail(key === '' ? 'missing key' : `bad key "${key}"`)
    }
    if (FORBIDDEN_KEYS.has(key)) fail(`forbidden key "${key}"`)
    if (key in out) fail(`duplicate key "${key}"`)
    skipSpace()
    if (text[i] !== ':') fail(`missing ":" after "${key}"`)
    i++
    skipSpace()
    let value: unknown
    if (text[i] === '"' || text[i] === "'") value = quoted()
    else {
      const start = i
      while (i < n && text[i] !== ',' && text[i] !== ' ') i++
      const raw = text.slice(start, i)
      if (raw === '') fail(`missing value for "${key}"`)
      if (raw[0] === '{' || raw[0] === '[') fail(`nested value for "${key}"; pass an object instead`)
      if (raw.includes(':')) fail(`unquoted ":" in the value of "${key}"; quote the value`)
      value =
        raw === 'true' ? true : raw === 'false' ? false : raw === 'null' ? null : NUMBER.test(raw) ? Number(raw) : raw
    }
    out[key] = value
    skipSpace()
    if (i < n) {
      if (text[i] === ',') {
        i++
        skipSpace()
        if (i >= n) fail('trailing ","')
      } else if (text[i - 1] !== ' ') fail(`unexpected "${text[i]}"`)
    }
  }
  if (Object.keys(out).length === 0) fail('empty pattern')
  return out
}

const patternCache = new Map<string, Pattern>()
const PATTERN_CACHE_MAX = 2048

/**
 * Returns the pattern object for a string or object, checked for use as a registered pattern:
 * values must be strings, numbers or booleans, and no key may reach a prototype. Parsed strings
 * are cached (bounded), so acting with a literal pattern string parses it once.
 */
export function toPattern(input: string | Readonly<Record<string, unknown>>): Pattern {
  if (typeof input === 'string') {
    const hit = patternCache.get(input)
    if (hit !== undefined) return hit
    const parsed = checkPattern(parsePattern(input), input)
    if (patternCache.size >= PATTERN_CACHE_MAX) patternCache.clear()
    patternCache.set(input, parsed)
    return parsed
  }
  return checkPattern(input, undefined)
}

function checkPattern(obj: Readonly<Record<string, unknown>>, text: string | undefined): Pattern {
  if (obj === null || typeof obj !== 'object') {
    throw new StoaError('INVALID_PATTERN', 'a pattern must be a string or an object')
  }
  const out: Record<string, PatternValue> = {}
  const keys = Object.keys(obj)
  if (keys.length === 0) throw new StoaError('INVALID_PATTERN', 'a pattern needs at least one key:value pair')
  for (const key of keys) {
    const v = obj[key]
    if (FORBIDDEN_KEYS.has(key)) {
      throw new StoaError('INVALID_PATTERN', `pattern key "${key}" is not allowed`, { pattern: text ?? keys.join(',') })
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new StoaError('INVALID_PATTERN', `pattern value for "${key}" must be a string, number or boolean`, {
        pattern: text ?? keys.join(','),
      })
    }
    out[key] = v
  }
  return Object.freeze(out)
}

/**
 * The canonical string of a pattern: keys sorted, each key and value written so `parsePattern`
 * reads them back. Values compare as strings (a message's `a: true` matches `a:true` and
 * `a:'true'` alike), so the string depends on each value's text alone: `{ n: 1 }` and
 * `{ n: '1' }` are one pattern, `n:1`, and re-adding either overrides the other. Two patterns
 * have the same string exactly when they match the same messages; a key or value holding a
 * separator or a quote is quoted, so none can pass for another pattern's pairs.
 *
 * @example
 * patternString({ role: 'math', cmd: 'sum' }) // 'cmd:sum,role:math'
 * patternString({ 'a,b': 'x:y' }) // "'a,b':'x:y'"
 */
export function patternString(pattern: Pattern): string {
  let s = ''
  for (const key of Object.keys(pattern).sort()) {
    const k = KEY.test(key) ? key : quote(key)
    s += `${(s === '' ? '' : ',') + k}:${valueText(String(pattern[key]))}`
  }
  return s
}

/**
 * A value's text as a pattern string writes it: bare when the parser reads it back to a value
 * with the same text (`math`, `12`, `true`), quoted otherwise: separators, quotes, spaces,
 * `{`/`[`, `null` (which a pattern cannot hold), and numbers the parser would rewrite (`1.0`
 * reads as 1, whose text is `1`).
 */
function valueText(v: string): string {
  if (v === '' || v === 'null' || /[,:\s'"]/.test(v) || v[0] === '{' || v[0] === '[') return quote(v)
  if (NUMBER.test(v) && String(Number(v)) !== v) return quote(v)
  return v
}

function quote(text: string): string {
  return `'${text.replace(/['\\]/g, '\\$&')}'`
}

/**
 * Builds the message for `act(pattern, extra)`: the pattern's pairs win over `extra`'s, so a
 * caller's data can never redirect the call to another action.
 */
export function toMessage(
  pattern: string | Readonly<Record<string, unknown>>,
  extra?: Readonly<Record<string, unknown>>,
): Message {
  if (typeof pattern === 'string') {
    let parsed = messageCache.get(pattern)
    if (parsed === undefined) {
      // A plain copy of the parser's null-prototype object: V8 keeps the latter in dictionary
      // mode, which makes every later copy of it slow. Its keys were checked by the parser.
      parsed = Object.assign({}, parsePattern(pattern))
      if (messageCache.size >= PATTERN_CACHE_MAX) messageCache.clear()
      messageCache.set(pattern, parsed)
    }
    if (extra === undefined) return { ...parsed }
    if (extra === null || typeof extra !== 'object') throw notAnObject()
    return mergeMessages(extra, parsed)
  }
  if (pattern === null || typeof pattern !== 'object') {
    throw new StoaError('INVALID_MESSAGE', 'a message must be an object or a pattern string')
  }
  if (extra === undefined) return { ...pattern }
  if (extra === null || typeof extra !== 'object') throw notAnObject()
  return mergeMessages(extra, pattern)
}

/**
 * Checks the data of a task or an event: an object, or undefined for none. Throws
 * `INVALID_MESSAGE` otherwise (`null` included: JSON's null is not a message).
 *
 * @example
 * checkData({ voter: 'v1' }) // { voter: 'v1' }
 */
export function checkData(data: unknown): Message | undefined {
  if (data === undefined || (data !== null && typeof data === 'object')) return data as Message | undefined
  throw notAnObject()
}

function notAnObject(): StoaError {
  return new StoaError('INVALID_MESSAGE', 'the data of a message must be an object')
}

/**
 * `{ ...a, ...b, ... }`: a new plain object with the own enumerable keys of each part in turn,
 * later parts winning. Node 20's V8 takes a slow path for a spread followed by more properties
 * (about 1 µs for two small objects, against ~40 ns for `Object.assign`), so this assigns;
 * `Object.assign` would call the `__proto__` setter where a spread defines a plain key, so a
 * part that has its own `__proto__` key (JSON can give one) is spread instead. Either way no
 * key a client sends reaches a prototype.
 *
 * @example
 * mergeMessages({ left: 1 }, { role: 'math' }) // { left: 1, role: 'math' }
 */
export function mergeMessages(...parts: readonly (Readonly<Record<string, unknown>> | undefined)[]): Message {
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (part !== undefined && Object.hasOwn(part, '__proto__')) {
      let out: Message = {}
      for (const p of parts) out = { ...out, ...p }
      return out
    }
  }
  return Object.assign({}, ...parts)
}

const messageCache = new Map<string, Message>()

/** Whether a pattern value is a glob (`*` any run, `?` one character). */
export function isGlob(value: unknown): boolean {
  return typeof value === 'string' && (value.includes('*') || value.includes('?'))
}

/** The regular expression a glob value stands for. */
export function globToRegExp(glob: string): RegExp {
  let src = '^'
  for (const ch of glob) {
    if (ch === '*') src += '[\\s\\S]*'
    else if (ch === '?') src += '[\\s\\S]'
    else src += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`${src}$`)
}

/**
 * Whether a message contains every pair of a pattern (glob values match as globs). Meant for
 * routing decisions made once per message, such as a transport's pins; the kernel's own
 * lookup uses its router.
 */
export function matchesPattern(pattern: Pattern, msg: Readonly<Message>): boolean {
  for (const k in pattern) {
    const want = pattern[k]!
    const have = msg[k]
    if (typeof have !== 'string' && typeof have !== 'number' && typeof have !== 'boolean') return false
    if (isGlob(want) ? !globToRegExp(String(want)).test(String(have)) : String(have) !== String(want)) return false
  }
  return true
}

/**
 * The pairs of a message that routing looked at, for errors and logs: only the keys some
 * pattern uses (`keys`), never the rest of the message, which may hold an address or a
 * password. Pairs are sorted as a pattern string is (`cmd:div,role:math`); non-scalar values
 * and values longer than a pattern value plausibly is are left out.
 *
 * @example
 * describeMessage({ role: 'math', cmd: 'div', password: 'x' }, ['role', 'cmd']) // 'cmd:div,role:math'
 */
export function describeMessage(msg: Readonly<Message>, keys: Iterable<string>): string {
  const pairs: string[] = []
  for (const k of new Set(keys)) {
    if (!Object.hasOwn(msg, k)) continue
    const v = msg[k]
    // Scalars only: a function's or a symbol's text is no help, and its own toString may throw.
    const t = typeof v
    if (t !== 'string' && t !== 'number' && t !== 'boolean') continue
    const text = String(v)
    if (text.length > MAX_SHOWN_VALUE) continue
    pairs.push(`${k}:${text}`)
  }
  return pairs.sort().join(',')
}

/** Longer values are data, not a pattern value: an error never shows them. */
const MAX_SHOWN_VALUE = 64
