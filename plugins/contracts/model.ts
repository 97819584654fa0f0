import type { ActionInfo, Schema, Stoa } from '../../actions/index.js'
import type { ServedRoute } from '../../actions/transport.js'
import { webRoutes } from '../../actions/transport.js'
import type { JsonSchema } from './json-schema.js'
import { toJsonSchema } from './json-schema.js'

/** The format of a saved contract; a file of another format is refused, not misread. */
export const CONTRACT_FORMAT = 1

/** One action as the contract records it. JSON Schemas are null where the action declares none. */
export interface ContractAction {
  /** The canonical pattern: `cmd:cast,role:vote`. */
  readonly pattern: string
  /** The pattern's own pairs, which every message carries. */
  readonly pairs: Readonly<Record<string, string | number | boolean>>
  /** A task handler (`task:tally.vote.record`) or an action called by pattern. */
  readonly kind: 'action' | 'task'
  /** What the action accepts, without the pattern's pairs; null: any message. */
  readonly message: JsonSchema | null
  /** What it answers; null: not declared. */
  readonly result: JsonSchema | null
  readonly permission: string | null
  readonly public: boolean
  readonly description: string | null
  /** Whether it has a bulkhead of its own (answered 503 OVERLOADED when full). */
  readonly bulkhead: boolean
}

/** One web route. */
export interface ContractRoute {
  readonly method: string
  /** The express-style path: `/api/votes/:id`. */
  readonly path: string
  readonly pattern: string
  /** The success status: 200, or 201, 202... as the route says. */
  readonly status: number
  /** The login cookie the token may come in, when the route reads one. */
  readonly cookie: string | null
  readonly maxBodyBytes: number
  /** `flat` (query, body and path parameters merged) or `seneca-web`. */
  readonly message: 'flat' | 'seneca-web'
  /** Set on a route that streams events (server-sent events, WebSocket) instead of answering once. */
  readonly stream?: { readonly event: string } | undefined
}

/** A task or event name with the JSON Schema of its data (null: not declared). */
export interface ContractChannel {
  readonly name: string
  readonly payload: JsonSchema | null
}

/**
 * What a service promises its callers, taken from its code: actions with their schemas and
 * permissions, web routes, the tasks it handles and sends, the events it emits and hears. It is
 * what `stoa contract --save` writes, and what the OpenAPI and AsyncAPI documents are made from.
 */
export interface Contract {
  readonly format: typeof CONTRACT_FORMAT
  readonly service: string
  /** The service's declared contract version (`defineService({ version })`), or null. */
  readonly version: string | null
  readonly actions: readonly ContractAction[]
  readonly routes: readonly ContractRoute[]
  readonly tasks: { readonly handles: readonly ContractChannel[]; readonly sends: readonly ContractChannel[] }
  readonly events: { readonly emits: readonly ContractChannel[]; readonly subscribes: readonly string[] }
  /** Which loaded plugins shape the answers: bearer tokens, permissions, bulkheads, rate limits. */
  readonly plugins: {
    readonly jwt: boolean
    readonly authz: boolean
    readonly bulkhead: boolean
    readonly ratelimit?: boolean | undefined
  }
  /** What could not be told: schemas no library could export, routes to actions elsewhere. */
  readonly warnings: readonly string[]
}

/** Actions every web plugin adds for its own machinery: not part of a service's API. */
const MACHINERY = new Set(['cmd:routes,role:web'])

/**
 * The contract of a service instance, read from its registry and its web plugin's route table.
 * The instance must be ready (plugins may add actions and routes in their init); it is only
 * read, and no transport needs to be listening.
 *
 * @example
 * await stoa.ready()
 * const contract = await describeContract(stoa)
 * await stoa.close()
 */
export async function describeContract(stoa: Stoa<any>): Promise<Contract> {
  const warnings: string[] = []
  const schemaOf = async (schema: Schema | undefined, what: string): Promise<JsonSchema | null> => {
    if (schema === undefined) return null
    const out = await toJsonSchema(schema, 'input')
    if ('schema' in out) return out.schema
    warnings.push(`${what}: ${out.warning}`)
    return null
  }
  const infos = stoa.list().filter((a: ActionInfo) => a.transport === undefined && !MACHINERY.has(a.key))
  const actions: ContractAction[] = []
  const sends = new Map<string, JsonSchema | null>()
  const emits = new Map<string, JsonSchema | null>()
  const handles: ContractChannel[] = []
  for (const info of infos) {
    const options = info.options as ActionInfo['options'] & { bulkhead?: unknown }
    const message = await schemaOf(info.schema, `action "${info.key}" message`)
    const action: ContractAction = {
      pattern: info.key,
      pairs: { ...info.pattern } as Record<string, string | number | boolean>,
      kind: typeof info.pattern.task === 'string' ? 'task' : 'action',
      message,
      result: await schemaOf(options.result, `action "${info.key}" result`),
      permission: info.permission ?? null,
      public: options.public === true,
      description: info.description ?? null,
      bulkhead: options.bulkhead !== undefined,
    }
    actions.push(action)
    if (typeof info.pattern.task === 'string') handles.push({ name: info.pattern.task, payload: message })
    for (const [name, schema] of Object.entries(options.sends ?? {}))
      merge(sends, name, await schemaOf(schema ?? undefined, `task "${name}" sent by "${info.key}"`))
    for (const [name, schema] of Object.entries(options.emits ?? {}))
      merge(emits, name, await schemaOf(schema ?? undefined, `event "${name}" emitted by "${info.key}"`))
  }
  const routes = (await webRoutes(stoa)).map(
    (r: ServedRoute): ContractRoute => ({
      method: r.method,
      path: r.path,
      pattern: r.pattern,
      status: r.status,
      cookie: r.cookie?.name ?? null,
      maxBodyBytes: r.maxBodyBytes,
      message: r.message,
      ...(r.stream === undefined ? {} : { stream: { event: r.stream.event } }),
    }),
  )
  return {
    format: CONTRACT_FORMAT,
    service: stoa.name,
    version: stoa.version ?? null,
    actions: actions.sort((a, b) => a.pattern.localeCompare(b.pattern)),
    routes,
    tasks: { handles: byName(handles), sends: byName(channels(sends)) },
    events: {
      emits: byName(channels(emits)),
      subscribes: [...new Set(stoa.listSubscriptions().map((s) => s.name))].sort(),
    },
    plugins: {
      jwt: stoa.hasPlugin('jwt'),
      authz: stoa.hasPlugin('authz'),
      bulkhead: stoa.hasPlugin('bulkhead'),
      ...(stoa.hasPlugin('ratelimit') ? { ratelimit: true } : {}),
    },
    warnings,
  }
}

/** Two actions declaring the same task or event: the first declared schema is kept. */
function merge(into: Map<string, JsonSchema | null>, name: string, schema: JsonSchema | null): void {
  if (!into.has(name) || into.get(name) === null) into.set(name, schema)
}

function channels(map: Map<string, JsonSchema | null>): ContractChannel[] {
  return [...map].map(([name, payload]) => ({ name, payload }))
}

function byName<T extends { name: string }>(list: T[]): T[] {
  return list.sort((a, b) => a.name.localeCompare(b.name))
}
