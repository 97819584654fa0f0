import type { StandardSchemaV1 } from '@standard-schema/spec'
import { StoaError } from './errors.js'

/** Any validator implementing Standard Schema: zod 4, valibot, arktype... */
export type Schema<In = unknown, Out = In> = StandardSchemaV1<In, Out>

/** The type a schema accepts. */
export type SchemaInput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : never
/** The type a schema produces. */
export type SchemaOutput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : never

/** Whether a value implements Standard Schema. */
export function isSchema(value: unknown): value is Schema {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function'
  )
}

/** An issue's path as a dotted string (`pool.max`), empty for the value itself. */
export function issuePath(issue: StandardSchemaV1.Issue): string {
  return (issue.path ?? [])
    .map((p) => (typeof p === 'object' && p !== null ? (p as StandardSchemaV1.PathSegment).key : p))
    .map(String)
    .join('.')
}

/**
 * Turns Standard Schema issues into `fields` (dotted paths) and a readable message. Given the
 * value checked, each issue's message loses the value at its path: valibot says `received
 * "hunter2"`, arktype `(was "hunter2")`, and the message goes back to the caller and into logs.
 */
export function describeIssues(
  issues: readonly StandardSchemaV1.Issue[],
  checked?: { value: unknown },
): { fields: string[]; text: string; messages: string[] } {
  const fields: string[] = []
  const parts: string[] = []
  const messages: string[] = []
  for (const issue of issues) {
    const path = issuePath(issue)
    if (!fields.includes(path)) fields.push(path)
    const message = checked === undefined ? issue.message : withoutValue(issue.message, valueAt(checked.value, issue))
    messages.push(message)
    parts.push(path === '' ? message : `${path}: ${message}`)
  }
  return { fields, text: parts.join('; '), messages }
}

/** The value an issue is about: the checked value followed along the issue's path. */
function valueAt(value: unknown, issue: StandardSchemaV1.Issue): unknown {
  let at = value
  for (const p of issue.path ?? []) {
    const key = typeof p === 'object' && p !== null ? (p as StandardSchemaV1.PathSegment).key : p
    if (at === null || typeof at !== 'object') return undefined
    at = (at as Record<PropertyKey, unknown>)[key as PropertyKey]
  }
  return at
}

/**
 * `message` with the value written out (quoted, as JSON, or as a whole number or word) replaced
 * by `…`. Objects and lists are written by type name by every validator, so only a primitive
 * needs this; a string is replaced only quoted, since a short one may be a word of the message.
 */
function withoutValue(message: string, value: unknown): string {
  if (typeof value === 'string') {
    if (value === '') return message
    let out = message
    for (const form of new Set([`"${value}"`, JSON.stringify(value), `'${value}'`])) out = out.split(form).join('…')
    return out
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    const text = String(value)
    const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    return message.replace(new RegExp(`(?<![\\w.])${escaped}n?(?!\\w|\\.\\d)`, 'g'), '…')
  }
  return message
}

/**
 * Validates `value`, returning the schema's output, or a promise of it for async schemas.
 * A failure throws (or rejects with) `INVALID_MESSAGE` listing the failing fields.
 */
export function validate<S extends Schema>(
  schema: S,
  value: unknown,
  what = 'message',
): SchemaOutput<S> | Promise<SchemaOutput<S>> {
  const result = schema['~standard'].validate(value) as
    | StandardSchemaV1.Result<SchemaOutput<S>>
    | Promise<StandardSchemaV1.Result<SchemaOutput<S>>>
  if (result instanceof Promise) return result.then((r) => unwrap(r, what, value))
  return unwrap(result, what, value)
}

function unwrap<T>(result: StandardSchemaV1.Result<T>, what: string, value: unknown): T {
  if (result.issues === undefined) return result.value
  const { fields, text } = describeIssues(result.issues, { value })
  throw new StoaError('INVALID_MESSAGE', `invalid ${what}: ${text}`, { fields })
}

/**
 * A schema whose full validator is loaded only for the inputs that need it. `quick` checks
 * the usual, simple inputs itself and returns the output the full schema would give (with its
 * defaults), or `undefined` for any input it cannot vouch for, valid or not; those go to the
 * schema `load` returns, loaded once on first need. `load` runs synchronously (a `require` of
 * the module holding the full schema), since options are validated synchronously. So an entry
 * point started with the usual options (a Lambda handler with a few routes) does not load the
 * validation library at all. `quick` must agree with the full schema: test it against it.
 */
export function deferredSchema<S extends Schema>(
  quick: (input: unknown) => SchemaOutput<S> | undefined,
  load: () => S,
): S {
  let full: S | undefined
  const standard: StandardSchemaV1.Props<SchemaInput<S>, SchemaOutput<S>> = {
    version: 1,
    vendor: 'stoa',
    validate(input) {
      const value = quick(input)
      if (value !== undefined) return { value }
      full ??= load()
      return full['~standard'].validate(input) as StandardSchemaV1.Result<SchemaOutput<S>>
    },
  }
  return { '~standard': standard } as unknown as S
}
