import type { ActionInfo, Schema, Stoa } from '../../actions/index.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { boolFlag, cliLogger, stringFlag } from './shared.js'

/** What a schema tells about the message: its keys, when they can be told. */
export interface SchemaSummary {
  /** The top-level keys, or null when the schema does not say (a union, a refinement...). */
  readonly keys: string[] | null
  /** The keys that must be present. */
  readonly required: string[] | null
}

/** One line of `stoa list --json`. A `hook` entry's pattern is where it wraps calls. */
export interface ListEntry {
  readonly kind: 'action' | 'task' | 'event' | 'hook'
  readonly pattern: string
  readonly plugin: string | null
  /** null: the action takes any message. */
  readonly schema: SchemaSummary | null
  readonly permission: string | null
  /** Declared callable with no identity (`public: true`): what the authz plugin lets anyone run. */
  readonly public: boolean
  readonly description: string | null
}

/**
 * `stoa list <service>`: the service's actions, tasks and event subscriptions, with the keys
 * of each schema and the permission each requires, then the hooks around its calls in the
 * order they wrap them; `--json` prints them as one array.
 *
 * @example
 * await list({ positionals: ['./math.ts'], values: { json: true } }, io)
 */
export async function list(args: Args, io: Io): Promise<number> {
  const [path, ...extra] = args.positionals
  if (path === undefined) throw new UsageError('missing <service>: the path of a service module')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const stoa = await loadService(path, {
    cwd: io.cwd,
    env: io.env,
    name: stringFlag(args, 'name'),
    logger: cliLogger(args, io.stderr),
  })
  let entries: ListEntry[]
  try {
    // Plugins may add actions in their init, so the list is taken from a started instance.
    await stoa.ready()
    entries = describe(stoa)
  } finally {
    await stoa.close()
  }
  if (boolFlag(args, 'json')) writeJson(io.stdout, entries)
  else io.stdout.write(table(entries))
  return 0
}

/** The entries `stoa list` prints for an instance. */
export function describe(stoa: Stoa): ListEntry[] {
  const actions = stoa.list().map(
    (a: ActionInfo): ListEntry => ({
      kind: typeof a.pattern.task === 'string' ? 'task' : 'action',
      pattern: a.key,
      plugin: a.plugin ?? null,
      schema: a.schema === undefined ? null : summarize(a.schema),
      permission: a.permission ?? null,
      public: a.options.public === true,
      description: a.description ?? null,
    }),
  )
  const events = stoa.listSubscriptions().map(
    (s): ListEntry => ({
      kind: 'event',
      pattern: `event:${s.name}`,
      plugin: s.plugin ?? null,
      schema: null,
      permission: null,
      public: false,
      description: null,
    }),
  )
  const hooks = stoa.listHooks().map(
    (h): ListEntry => ({
      kind: 'hook',
      pattern: [h.inbound ? 'inbound' : '', h.outbound ? 'outbound' : ''].filter(Boolean).join('+'),
      plugin: h.plugin,
      schema: null,
      permission: null,
      public: false,
      description: null,
    }),
  )
  return [...actions, ...events, ...hooks]
}

/**
 * The keys a schema accepts. Standard JSON Schema (zod 4, arktype, valibot's converter) says
 * them exactly; zod 3 and older zod 4 objects still expose `shape`; anything else is opaque.
 */
export function summarize(schema: Schema): SchemaSummary {
  const std = schema['~standard'] as { jsonSchema?: { input?: (o: { target: string }) => Record<string, unknown> } }
  if (typeof std.jsonSchema?.input === 'function') {
    try {
      const json = std.jsonSchema.input({ target: 'draft-2020-12' })
      const props = json.properties
      if (json.type === 'object' && props !== null && typeof props === 'object') {
        const required = Array.isArray(json.required)
          ? json.required.filter((k): k is string => typeof k === 'string')
          : []
        return { keys: Object.keys(props), required }
      }
    } catch {
      // The library may refuse to convert some schemas (transforms, custom checks): opaque.
    }
  }
  const shape = (schema as { shape?: unknown }).shape
  if (shape !== null && typeof shape === 'object') return { keys: Object.keys(shape), required: null }
  return { keys: null, required: null }
}

/** `left, right?`: required keys plain, optional ones marked. */
function keysText(s: SchemaSummary | null): string {
  if (s === null) return '-'
  if (s.keys === null) return 'schema'
  if (s.keys.length === 0) return '{}'
  return s.keys.map((k) => (s.required === null || s.required.includes(k) ? k : `${k}?`)).join(', ')
}

function table(entries: readonly ListEntry[]): string {
  if (entries.length === 0) return 'no actions\n'
  const rows = [
    ['PATTERN', 'MESSAGE', 'PERMISSION', 'DESCRIPTION'],
    ...entries.map((e) =>
      e.kind === 'hook'
        ? [`hook:${e.pattern}`, '-', '-', `plugin ${e.plugin ?? ''}`]
        : [e.pattern, keysText(e.schema), e.permission ?? (e.public ? 'public' : '-'), e.description ?? ''],
    ),
  ]
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)))
  return `${rows
    .map((r) =>
      r
        .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`
}
