import type { Message } from '../actions/index.js'
import { StoaError } from '../actions/index.js'
import { UsageError } from './usage.js'

/** Keys that could reach an object's prototype; refused as they are in patterns. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * JSON's own number grammar: `1e3`, `-0.5`. Hex, `Infinity` and leading zeros stay strings,
 * so that a zip code `01234` or an id `0x1f` arrives as typed.
 */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/**
 * The value of one `key=value` argument: a number, `true`, `false`, `null`, JSON when it starts
 * like JSON (`{`, `[`, `"`), otherwise the text itself. Integers beyond 2^53 stay strings
 * rather than silently losing digits.
 *
 * @example
 * parseValue('12') // 12
 * parseValue('[1,2]') // [1, 2]
 * parseValue('hello') // 'hello'
 */
export function parseValue(text: string, key = 'value'): unknown {
  if (text === 'true') return true
  if (text === 'false') return false
  if (text === 'null') return null
  if (NUMBER.test(text)) {
    const n = Number(text)
    const integral = !/[.eE]/.test(text)
    if (Number.isFinite(n) && (!integral || Number.isSafeInteger(n))) return n
    return text
  }
  const first = text[0]
  if (first === '{' || first === '[' || first === '"') {
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new UsageError(`the value of "${key}" looks like JSON but is not valid JSON: ${text}`)
    }
  }
  return text
}

/**
 * Builds a message from `key=value` arguments, set over `base`: dotted keys build nested
 * objects (`a.b=1`). A key given twice, a key that is both a value and an object, an empty
 * segment or a prototype key is a usage error.
 *
 * @example
 * buildMessage(['left=1', 'opts.round=true']) // { left: 1, opts: { round: true } }
 */
export function buildMessage(pairs: readonly string[], base: Message = {}): Message {
  const out: Message = structuredClone(base)
  const seen = new Set<string>()
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq < 0) throw new UsageError(`expected key=value, got "${pair}"`)
    const key = pair.slice(0, eq)
    const path = key.split('.')
    if (key === '' || path.some((p) => p === ''))
      throw new UsageError(`bad key in "${pair}": keys are names separated by dots`)
    const bad = path.find((p) => FORBIDDEN_KEYS.has(p))
    if (bad !== undefined) throw new UsageError(`key "${bad}" is not allowed`)
    if (seen.has(key)) throw new UsageError(`key "${key}" is given twice`)
    seen.add(key)
    const value = parseValue(pair.slice(eq + 1), key)
    let node: Message = out
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i]!
      const next = node[seg]
      if (next === undefined) node = node[seg] = {}
      else if (next !== null && typeof next === 'object' && !Array.isArray(next)) node = next as Message
      else
        throw new UsageError(`"${path.slice(0, i + 1).join('.')}" has a value, so "${key}" cannot set a key inside it`)
    }
    const last = path[path.length - 1]!
    if (seen.size > 0 && isObject(node[last]) && [...seen].some((k) => k.startsWith(`${key}.`))) {
      throw new UsageError(`"${key}" is an object built from dotted keys, so it cannot also be set to a value`)
    }
    node[last] = value
  }
  return out
}

/**
 * Parses a JSON message, which must be an object. Given as an argument (`--json`), a bad one
 * is a usage error (exit 2); read from stdin it is data, and fails as `INVALID_JSON` (exit 1),
 * as the same bytes would over HTTP.
 */
export function parseJsonMessage(text: string, from: 'argument' | 'stdin'): Message {
  const what = from === 'argument' ? 'the --json message' : 'the message on stdin'
  const fail = (why: string): never => {
    throw from === 'argument' ? new UsageError(why) : new StoaError('INVALID_JSON', why)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    fail(`${what} is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(value)) fail(`${what} must be a JSON object, like {"left":1}`)
  return value as Message
}

function isObject(v: unknown): v is Message {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A Standard Schema, as an action declares it: only `validate` is used here. */
interface AnySchema {
  readonly '~standard': {
    validate(value: unknown): StandardResult | Promise<StandardResult>
  }
}
type StandardResult = { readonly issues?: readonly { readonly path?: readonly unknown[] }[] }

/**
 * Gives back as text the `key=value` values the action's schema wants as text: `zip=01234`
 * parses as text already, but `zip=12345` parsed as a number, and a schema with `zip: string`
 * would refuse it. Each parsed (non-text) value whose field fails validation is tried as the
 * text it was typed as, and kept so when that field then passes. `routing` holds the pairs the
 * validated message also gets (an act's pattern); `pairs` the arguments as typed.
 *
 * @example
 * await coerceBySchema(schema, buildMessage(['zip=12345']), ['zip=12345']) // { zip: '12345' } for zip: string
 */
export async function coerceBySchema(
  schema: unknown,
  msg: Message,
  pairs: readonly string[],
  routing: Message = {},
): Promise<Message> {
  if (!isSchema(schema)) return msg
  const failing = async (m: Message): Promise<Set<string>> => {
    const r = await schema['~standard'].validate({ ...m, ...routing })
    return new Set((r.issues ?? []).map((i) => (i.path ?? []).map((p) => keyOf(p)).join('.')))
  }
  let bad = await failing(msg)
  if (bad.size === 0) return msg
  let out = msg
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    const key = pair.slice(0, eq)
    const text = pair.slice(eq + 1)
    if (!bad.has(key) || typeof valueAt(out, key) === 'string') continue
    const tried = setAt(out, key, text)
    const after = await failing(tried)
    if (!after.has(key)) {
      out = tried
      bad = after
    }
  }
  return out
}

function isSchema(s: unknown): s is AnySchema {
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof (s as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function'
  )
}

function keyOf(p: unknown): string {
  return p !== null && typeof p === 'object' && 'key' in p ? String((p as { key: unknown }).key) : String(p)
}

function valueAt(msg: Message, key: string): unknown {
  let node: unknown = msg
  for (const seg of key.split('.')) node = isObject(node) ? node[seg] : undefined
  return node
}

/** A copy of `msg` with the dotted `key` set to `value`; the path exists (buildMessage made it). */
function setAt(msg: Message, key: string, value: unknown): Message {
  const out = structuredClone(msg)
  const path = key.split('.')
  let node = out
  for (let i = 0; i < path.length - 1; i++) node = node[path[i]!] as Message
  node[path[path.length - 1]!] = value
  return out
}
