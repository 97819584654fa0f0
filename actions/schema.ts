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

/** Turns Standard Schema issues into `fields` (dotted paths) and a readable message. */
export function describeIssues(issues: readonly StandardSchemaV1.Issue[]): { fields: string[]; text: string } {
  const fields: string[] = []
  const parts: string[] = []
  for (const issue of issues) {
    const path = issuePath(issue)
    if (!fields.includes(path)) fields.push(path)
    parts.push(path === '' ? issue.message : `${path}: ${issue.message}`)
  }
  return { fields, text: parts.join('; ') }
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
  if (result instanceof Promise) return result.then((r) => unwrap(r, what))
  return unwrap(result, what)
}

function unwrap<T>(result: StandardSchemaV1.Result<T>, what: string): T {
  if (result.issues === undefined) return result.value
  const { fields, text } = describeIssues(result.issues)
  throw new StoaError('INVALID_MESSAGE', `invalid ${what}: ${text}`, { fields })
}
