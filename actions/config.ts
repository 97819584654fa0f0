import type { StandardSchemaV1 } from '@standard-schema/spec'
import { StoaError } from './errors.js'
import type { Schema, SchemaInput, SchemaOutput } from './schema.js'
import { describeIssues } from './schema.js'

/**
 * A service's settings: one schema per environment variable, keyed by the variable's name
 * (`JWT_SECRET`, `DATABASE_URL`). Each schema gets the variable's text (or `undefined` when it
 * is unset), so it coerces and defaults as it likes (`z.coerce.number().default(3000)`).
 * A record of schemas, rather than one object schema, because the names must be known to read
 * them and to say which one is wrong, and Standard Schema does not expose an object's keys.
 */
export type ConfigSchema = Readonly<Record<string, Schema>>

/** The values a {@link ConfigSchema} resolves to, by variable name. */
export type ConfigValues<C extends ConfigSchema> = { readonly [K in keyof C]: SchemaOutput<C[K]> }

/** Where settings are read from: the environment, and files of `KEY=value` lines under it. */
export type ConfigSource = Readonly<Record<string, string | undefined>>

/** A schema marked by {@link secret}: its value is never logged or printed. */
export interface SecretSchema<In = unknown, Out = In> extends StandardSchemaV1<In, Out> {
  readonly secret: true
}

/**
 * Marks a setting as a secret: the resolved configuration shows it as `[redacted]`.
 *
 * @example
 * const config = { JWT_SECRET: secret(z.string().min(32)) }
 */
export function secret<S extends Schema>(schema: S): SecretSchema<SchemaInput<S>, SchemaOutput<S>> {
  return Object.freeze({ '~standard': schema['~standard'], secret: true as const }) as SecretSchema<
    SchemaInput<S>,
    SchemaOutput<S>
  >
}

/** What a service's configuration resolved to. */
export interface ResolvedConfig<V = Record<string, unknown>> {
  /** The checked values, as the schemas made them. */
  readonly values: V
  /**
   * The values as they may be shown (logged at start, printed by `stoa config`): secrets as
   * `[redacted]`, a password in a URL as `***`, an unset optional setting left out.
   */
  readonly shown: Readonly<Record<string, unknown>>
  /** Where each setting came from: the variable, `<NAME>_FILE`, or the schema's default. */
  readonly origin: Readonly<Record<string, 'env' | 'file' | 'default'>>
}

/** The text shown in place of a secret. */
export const REDACTED = '[redacted]'

/**
 * Resolves a service's settings from `source` (the environment, as `stoa serve` passes it):
 * each variable `NAME` from `NAME`, or from the file `NAME_FILE` names (a Docker or Kubernetes
 * secret mounted as a file; one trailing newline dropped), then checked by its schema. Every bad
 * setting is reported at once as `INVALID_CONFIG`, naming the variable and the rule it broke,
 * never its value.
 *
 * @example
 * const { values } = resolveConfig('vote', { JWT_SECRET: secret(z.string().min(32)) }, { JWT_SECRET_FILE: '/run/secrets/jwt' })
 */
export function resolveConfig<C extends ConfigSchema>(
  service: string,
  schema: C,
  source: ConfigSource,
): ResolvedConfig<ConfigValues<C>> {
  const values: Record<string, unknown> = {}
  const shown: Record<string, unknown> = {}
  const origin: Record<string, 'env' | 'file' | 'default'> = {}
  const problems: string[] = []
  const variables: string[] = []
  for (const [name, rule] of Object.entries(schema)) {
    const fileVar = `${name}_FILE`
    const direct = nonEmpty(source[name])
    const path = nonEmpty(source[fileVar])
    let text = direct
    let from: 'env' | 'file' | 'default' = direct === undefined ? 'default' : 'env'
    if (direct !== undefined && path !== undefined) {
      problems.push(`${name} and ${fileVar} are both set: give one of them`)
      variables.push(name)
      continue
    }
    if (path !== undefined) {
      try {
        // node:fs fetched, not imported: its module facade costs a cold start more than any kernel file.
        text = process
          .getBuiltinModule('node:fs')
          .readFileSync(path, 'utf8')
          .replace(/\r?\n$/, '')
        from = 'file'
      } catch (err) {
        problems.push(`${fileVar}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
        variables.push(name)
        continue
      }
    }
    const result = rule['~standard'].validate(text)
    if (result instanceof Promise) {
      throw new StoaError(
        'INVALID_OPTIONS',
        `service "${service}": the schema of setting ${name} is asynchronous; a setting is checked before anything runs`,
        { fields: [name] },
      )
    }
    if (result.issues !== undefined) {
      const rules = describeIssues(result.issues, { value: text }).text
      problems.push(
        text === undefined
          ? `${name} is not set (nor ${fileVar}): ${rules}`
          : `${name}${from === 'file' ? ` (from ${fileVar})` : ''}: ${rules}`,
      )
      variables.push(name)
      continue
    }
    values[name] = result.value
    origin[name] = from
    if (result.value === undefined) continue
    shown[name] = (rule as Partial<SecretSchema>).secret === true ? REDACTED : shownValue(result.value)
  }
  if (problems.length > 0) {
    throw new StoaError('INVALID_CONFIG', `service "${service}": ${problems.join('; ')}`, { variables })
  }
  return Object.freeze({
    values: Object.freeze(values) as ConfigValues<C>,
    shown: Object.freeze(shown),
    origin: Object.freeze(origin),
  })
}

/** Docker Compose and shells pass `NAME=` as an empty string: the same as unset here. */
function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text
}

/** A value as it may be logged: a URL keeps its host but not its password. */
function shownValue(value: unknown): unknown {
  if (typeof value !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value
  try {
    const url = new URL(value)
    if (url.password === '') return value
    url.password = '***'
    return url.href
  } catch {
    return value
  }
}
