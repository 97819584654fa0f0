import type { Schema } from '../../actions/index.js'
import { loadPeer } from '../../actions/transport.js'

/** A JSON Schema (draft 2020-12) as a plain object. */
export type JsonSchema = Record<string, unknown>

/** Which side of a schema is exported: what it accepts, or what it produces. */
export type SchemaSide = 'input' | 'output'

/** A schema's JSON Schema, or why there is none. */
export type Exported = { readonly schema: JsonSchema } | { readonly warning: string }

interface StandardJson {
  readonly vendor?: string
  readonly jsonSchema?: { readonly [side in SchemaSide]?: (options: { target: string }) => unknown }
}

/**
 * The JSON Schema of a Standard Schema, from the validator's own export, never guessed:
 *
 * 1. the Standard JSON Schema interface (`~standard.jsonSchema`), which zod 4 and arktype
 *    implement: the one way that needs nothing of the library;
 * 2. valibot, which does not implement it, through its official converter
 *    `@valibot/to-json-schema` (an optional peer, loaded only then);
 * 3. a library object with its own `toJsonSchema()` (older arktype).
 *
 * A schema none of these can export (a zod transform or custom check, a library with no
 * export) comes back as a warning naming the library, so the contract lists the action
 * without a schema rather than dropping it or inventing one.
 *
 * @example
 * const out = await toJsonSchema(z.object({ choice: z.enum(['cats', 'dogs']) }))
 * if ('schema' in out) console.log(out.schema.properties)
 */
export async function toJsonSchema(schema: Schema, side: SchemaSide = 'input'): Promise<Exported> {
  const std = schema['~standard'] as StandardJson
  const vendor = std.vendor ?? 'unknown'
  try {
    const exporter = std.jsonSchema?.[side]
    if (typeof exporter === 'function') return { schema: clean(exporter({ target: 'draft-2020-12' })) }
    if (vendor === 'valibot') {
      const { toJsonSchema: convert } = await loadPeer<typeof import('@valibot/to-json-schema')>(
        '@valibot/to-json-schema',
        'stoa/contracts (for valibot schemas)',
      )
      return { schema: clean(convert(schema as never, { errorMode: 'throw' })) }
    }
    const own = (schema as { toJsonSchema?: () => unknown }).toJsonSchema
    if (typeof own === 'function') return { schema: clean(own.call(schema)) }
  } catch (err) {
    return { warning: `its ${vendor} schema cannot be written as JSON Schema: ${(err as Error)?.message ?? err}` }
  }
  return { warning: `its ${vendor} schema offers no JSON Schema export` }
}

/** The exported schema without `$schema`: the documents embedding it say their own dialect. */
function clean(json: unknown): JsonSchema {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return json === true ? {} : { not: {} }
  }
  const { $schema: _dialect, ...rest } = json as JsonSchema
  return rest
}
