import type { ActionInfo, Schema, Stoa } from '../../actions/index.js'
import { createStoa, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { isStoaErrorLike, writeJson } from '../output.js'
import { clientTransport, shownUrl } from '../remote.js'
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
 * The action a service run by `stoa serve` answers with its own list: what `stoa list --url`
 * asks a running service. It is public (a probe or an operator asks with no identity); it
 * tells patterns, the keys of their schemas and their permissions, never data.
 */
export const LIST_PATTERN = 'role:stoa,cmd:list'

/**
 * `stoa list <service>`: the service's actions, tasks and event subscriptions, with the keys
 * of each schema and the permission each requires, then the hooks around its calls in the
 * order they wrap them; `--json` prints them as one array. `stoa list --url <url>` asks a
 * running service (one `stoa serve` runs) for the same list, through its HTTP listener or its
 * queue (`--service`).
 *
 * @example
 * await list({ positionals: ['./math.ts'], values: { json: true } }, io)
 */
export async function list(args: Args, io: Io): Promise<number> {
  const [path, ...extra] = args.positionals
  const url = stringFlag(args, 'url')
  const service = stringFlag(args, 'service')
  if (url !== undefined && path !== undefined)
    throw new UsageError('give <service> (a module path) or --url (a running service), not both')
  if (url === undefined && service !== undefined) throw new UsageError('--service goes with --url amqp://… or nats://…')
  if (url === undefined && path === undefined)
    throw new UsageError('missing <service>: the path of a service module, or --url')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const entries = url === undefined ? await listModule(path!, args, io) : await listRemote(url, service, args, io)
  if (boolFlag(args, 'json')) writeJson(io.stdout, entries)
  else io.stdout.write(table(entries))
  return 0
}

async function listModule(path: string, args: Args, io: Io): Promise<ListEntry[]> {
  const stoa = await loadService(path, {
    cwd: io.cwd,
    env: io.env,
    name: stringFlag(args, 'name'),
    logger: cliLogger(args, io.stderr),
  })
  try {
    // Plugins may add actions in their init, so the list is taken from a started instance.
    await stoa.ready()
    return describe(stoa)
  } finally {
    await stoa.close()
  }
}

/** The list a running service gives for {@link LIST_PATTERN}. */
async function listRemote(url: string, service: string | undefined, args: Args, io: Io): Promise<ListEntry[]> {
  if (stringFlag(args, 'name') !== undefined)
    throw new UsageError('--name names an in-process service; with --url, use --service')
  const stoa = createStoa({ name: 'cli', logger: cliLogger(args, io.stderr) }).client(
    await clientTransport(url, service),
    [LIST_PATTERN],
  )
  try {
    try {
      await stoa.ready()
    } catch (err) {
      if (isStoaErrorLike(err)) throw err
      throw new StoaError('UNAVAILABLE', `cannot reach ${shownUrl(url)}`, undefined, { cause: err })
    }
    let out: unknown
    try {
      out = await stoa.act(LIST_PATTERN, {}, { caller: 'cli' })
    } catch (err) {
      if (isStoaErrorLike(err) && err.code === 'NOT_FOUND')
        throw new StoaError(
          'NOT_FOUND',
          `${shownUrl(url)} answers no ${LIST_PATTERN}: only a service run by stoa serve lists its actions`,
          { pattern: LIST_PATTERN },
        )
      throw err
    }
    const entries = (out as { entries?: unknown } | null)?.entries
    if (!Array.isArray(entries))
      throw new StoaError('INVALID_RESULT', `${shownUrl(url)} answered ${LIST_PATTERN} with no list of entries`)
    return entries as ListEntry[]
  } finally {
    await stoa.close()
  }
}

const LIST_KEY = patternString(toPattern(LIST_PATTERN))

/** The entries `stoa list` prints for an instance ({@link LIST_PATTERN} left out). */
export function describe(stoa: Stoa): ListEntry[] {
  const actions = stoa
    .list()
    .filter((a) => a.key !== LIST_KEY)
    .map(
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
