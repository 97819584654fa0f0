/**
 * The GraphQL plugin: a GraphQL endpoint over a service's actions, on the web plugin's routes.
 * Each query and mutation field calls one action with the caller's identity, so jwt, authz and
 * rate limits apply as they do to a web route; types come from the actions' message and
 * result schemas (as the contracts plugin exports them), `JSON` where there are none. See
 * docs/graphql.md.
 *
 * @module stoa/graphql
 */
import type { IncomingMessage } from 'node:http'
import type { DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema } from 'graphql'
import type { WebSocketServer } from 'ws'
import type { Context, Message, PluginHost, PluginSubscription, Stoa, UpgradeHandler } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { CorsPolicy, ServedRoute } from '../../actions/transport.js'
import { loadPeer, readCookie, routeTableAction, toStoaError } from '../../actions/transport.js'
import type { JsonSchema } from '../contracts/index.js'
import { toJsonSchema } from '../contracts/index.js'
import { weigh } from './limits.js'
import { graphqlOptions } from './options.js'
import type { Operation } from './schema.js'
import { buildSchema } from './schema.js'
import { eventStreamRoute, requestOf } from './sse.js'
import type { Connections, HubEvent } from './ws.js'
import { EventHub, guardedUpgrade, mapEvents, SKIP } from './ws.js'

export type { GraphqlOptions } from './options.js'

type GraphQL = typeof import('graphql')
type GraphqlWs = typeof import('graphql-ws/use/ws')
type GraphqlSse = typeof import('graphql-sse')
type Ws = typeof import('ws')

/** The action the endpoint's route calls: `{ query, variables?, operationName? }` in, a GraphQL result out. */
export const GRAPHQL_EXECUTE = 'role:graphql,cmd:execute'

/** One error of a GraphQL answer, its stable code in `extensions.code`. */
export interface GraphqlErrorJSON {
  message: string
  locations?: readonly { line: number; column: number }[]
  path?: readonly (string | number)[]
  extensions: { code: string; details?: Record<string, unknown> }
}

/** What the endpoint answers: GraphQL's `{ data, errors }`. */
export interface GraphqlAnswer {
  data?: Record<string, unknown> | null
  errors?: GraphqlErrorJSON[]
}

/**
 * The GraphQL plugin. Load it beside the web plugin (whose server answers its route); name
 * the fields and the actions they call. Queries are for reads, mutations for commands: the
 * plugin runs what it is told and does not guess which is which.
 *
 * @example
 * const stoa = createStoa({ name: 'vote' })
 *   .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' } })
 *   .use(graphql, {
 *     queries: { results: 'role:results,cmd:get' },
 *     mutations: { castVote: 'role:vote,cmd:cast' },
 *     introspection: false,
 *   })
 * // POST /graphql  { "query": "mutation { castVote(choice: \"cats\") { voteId } }" }
 */
const graphql = definePlugin({
  name: 'graphql',
  options: graphqlOptions,
  setup: (options, host) => {
    let ready: Promise<{ gql: GraphQL; schema: GraphQLSchema }> | undefined
    let sockets: WebSocketServer | undefined
    // Documents that passed the checks, by their text: a client sends the same few again and
    // again, and parsing and validating are most of a small request's cost. Bounded; the
    // oldest goes first.
    const documents = new Map<string, DocumentNode>()
    const prepared = (gql: GraphQL, schema: GraphQLSchema, query: string): DocumentNode | GraphqlErrorJSON[] => {
      const known = documents.get(query)
      if (known !== undefined) return known
      const doc = prepare(gql, schema, options, query)
      // Small documents only: 500 of them stay well under a few MiB.
      if (!Array.isArray(doc) && query.length <= 4096) {
        if (documents.size >= 500) documents.delete(documents.keys().next().value!)
        documents.set(query, doc as DocumentNode)
      }
      return doc
    }
    const built = async () => {
      if (ready === undefined) throw new StoaError('UNAVAILABLE', 'the GraphQL schema is not built yet')
      return ready
    }
    const execute = async (msg: Record<string, unknown>, ctx: Context): Promise<GraphqlAnswer> => {
      const { gql, schema } = await built()
      const { query, variables, operationName } = requestOf(msg)
      const doc = prepared(gql, schema, query)
      if (Array.isArray(doc)) return { errors: doc }
      const out = (await gql.execute({
        schema,
        document: doc as DocumentNode,
        variableValues: variables,
        operationName,
        contextValue: ctx,
      })) as ExecutionResult
      return answerOf(out)
    }
    // Every instance hears every event a subscription field streams.
    const hubs = new Map<string, EventHub>()
    const subscriptions: PluginSubscription[] = []
    for (const spec of Object.values(options.subscriptions)) {
      const event = typeof spec === 'string' ? spec : spec.event
      if (hubs.has(event)) continue
      const hub = new EventHub()
      hubs.set(event, hub)
      subscriptions.push({
        event,
        each: 'instance',
        handler: (msg: Message, ctx: Context) => void hub.publish({ name: ctx.event ?? event, data: msg }),
      })
    }
    // A map's answer for one event, by the token it ran with: subscribers with the same
    // identity (every anonymous results page) share one call per event rather than one each.
    const maps = new WeakMap<HubEvent, Map<string, Promise<unknown>>>()
    const mapped = (event: HubEvent, map: string, caller: Caller): Promise<unknown> => {
      let calls = maps.get(event)
      if (calls === undefined) {
        calls = new Map()
        maps.set(event, calls)
      }
      const key = caller.token === undefined ? '' : `t:${caller.token}`
      let out = calls.get(key)
      if (out === undefined) {
        out = caller.act(map, { event: event.name, data: event.data })
        calls.set(key, out)
      }
      return out.then(
        (value) => (value === undefined || value === null ? SKIP : value),
        (err: unknown) => {
          // An identity that may no longer see the stream loses it; any other failure skips the event.
          const code = err instanceof StoaError ? err.code : undefined
          if (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') throw err
          host.log.warn({ err: String(err), pattern: map, event: event.name }, 'a subscription map action failed')
          return SKIP
        },
      )
    }
    let upgrade: UpgradeHandler | undefined
    // WebSockets and event streams alike: one limit, as the web plugin's stream routes share theirs.
    const held: Connections = { n: 0, max: options.maxConnections }
    return {
      actions: {
        [GRAPHQL_EXECUTE]: {
          public: true,
          description: 'answers a GraphQL request; each field calls its action with the caller’s identity',
          handler: (msg: Record<string, unknown>, ctx: Context) => execute(msg, ctx),
        },
      },
      subscriptions,
      init: async (host: PluginHost) => {
        const stoa = host as unknown as Stoa<any>
        ready = (async () => {
          const gql = await loadPeer<GraphQL>('graphql', 'stoa/graphql')
          const ops = await operationsOf(stoa, options)
          const schema = buildSchema(gql, ops, {
            act: (op, args, context) => (context as Caller).act(op.target, args),
            subscribe: async (op, context) => {
              const caller = context as Caller
              if (op.open !== undefined) await caller.act(op.open, {})
              const events = hubs.get(op.target)!.subscribe(options.maxQueuedEvents)
              const map = op.map
              if (map === undefined) return mapEvents(events, (e) => e.data)
              return mapEvents(events, (e) => mapped(e, map, caller))
            },
          })
          return { gql, schema }
        })()
        const { gql, schema } = await ready
        const streaming = Object.keys(options.subscriptions).length > 0
        const overSse = streaming && options.protocols.includes('sse')
        const eventStream = overSse
          ? eventStreamRoute(await loadPeer<GraphqlSse>('graphql-sse', 'stoa/graphql'), options.path, {
              gql,
              schema,
              prepared: (query) => prepared(gql, schema, query),
              answer: answerOf,
              failure: (err) => [
                fieldError(new gql.GraphQLError(toStoaError(err).message, { originalError: err as Error })),
              ],
              caller: (opts) => ({
                act: (pattern, msg) => stoa.act(pattern, msg, { ...opts, id: undefined }),
                token: opts.token,
              }),
              allowedOrigins: options.allowedOrigins,
              maxBufferedBytes: options.maxBufferedBytes,
              held,
            })
          : undefined
        stoa.add(
          'role:web,cmd:routes',
          routeTableAction([
            Object.freeze({
              method: 'POST',
              path: options.path,
              pattern: patternString(toPattern(GRAPHQL_EXECUTE)),
              status: 200,
              plugin: 'graphql',
              maxBodyBytes: options.maxBodyBytes,
              headers: options.headers,
              message: 'flat',
              ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
              ...(eventStream === undefined ? {} : { eventStream }),
              ...(options.allowedOrigins.length === 0 ? {} : { cors: corsOf(options) }),
            } satisfies ServedRoute),
          ]),
        )
        if (!streaming || !options.protocols.includes('websocket')) return
        const [{ WebSocketServer }, { useServer }] = await Promise.all([
          loadPeer<Ws>('ws', 'stoa/graphql'),
          loadPeer<GraphqlWs>('graphql-ws/use/ws', 'stoa/graphql'),
        ])
        const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxBodyBytes, perMessageDeflate: false })
        sockets = wss
        const callers = new WeakMap<object, Caller>()
        const server = useServer(
          {
            schema,
            // The token is kept with the connection and sent with every call a field makes, so
            // each action verifies it as it would over HTTP: a bad token fails the fields that
            // need an identity, with their codes.
            onConnect: (c) => {
              const token = tokenOf(c.connectionParams, c.extra.request, options.cookie?.name)
              const headers = pickHeaders(c.extra.request, options.headers)
              callers.set(c, {
                act: (pattern, msg) => stoa.act(pattern, msg, { ...(token === undefined ? {} : { token }), headers }),
                token,
              })
              return true
            },
            onSubscribe: (c, _id, payload) => {
              const doc = prepared(gql, schema, payload.query)
              if (Array.isArray(doc))
                return doc.map((e) => new gql.GraphQLError(e.message, { extensions: e.extensions }))
              return {
                schema,
                document: doc as DocumentNode,
                variableValues: payload.variables ?? undefined,
                operationName: payload.operationName ?? undefined,
                contextValue: callers.get(c),
              }
            },
            onNext: (_c, _id, _payload, _args, result) => answerOf(result) as never,
            // A subscription that ends failing (a map refused, the subscriber dropped as too
            // slow): its error with the stable code, as a field's.
            onError: (_c, _id, _payload, errors) =>
              errors.map((e) => (e.originalError == null ? e.toJSON() : fieldError(e))) as never,
          },
          wss,
        )
        upgrade = guardedUpgrade(options.allowedOrigins, held, (req, socket, head) =>
          wss.handleUpgrade(req, socket, head, (conn) => {
            held.n++
            conn.once('close', () => held.n--)
            wss.emit('connection', conn, req)
          }),
        )
        return async () => {
          await server.dispose()
          wss.close()
        }
      },
      http: {
        upgrades: {
          [options.path]: (req, socket, head) => {
            if (upgrade !== undefined) return upgrade(req, socket, head)
            socket.destroy()
          },
        },
      },
      handle: {
        /** The schema the endpoint serves, once the instance has started. */
        schema: async (): Promise<GraphQLSchema> => (await built()).schema,
        /** How many GraphQL WebSockets are open. */
        connections: (): number => sockets?.clients.size ?? 0,
      },
    }
  },
})

/** What a field's resolver calls through: the request's context over HTTP, the connection's over WebSocket. */
interface Caller {
  act(pattern: string, msg: Record<string, unknown>): Promise<unknown>
  /** The token the calls carry. */
  readonly token?: string | undefined
}

/**
 * A request's document, parsed and checked against the limits and the schema; or the errors
 * refusing it, before anything runs.
 */
function prepare(
  gql: GraphQL,
  schema: GraphQLSchema,
  options: ReturnType<typeof graphqlOptions.parse>,
  query: string,
): DocumentNode | GraphqlErrorJSON[] {
  let doc: DocumentNode
  try {
    doc = gql.parse(query, { maxTokens: options.maxTokens })
  } catch (err) {
    return [requestError(err as GraphQLError, { limit: options.maxTokens })]
  }
  const w = weigh(gql, doc, options.maxDepth, options.maxCost)
  if (w.depth > options.maxDepth)
    return refusal(`the query nests deeper than the limit of ${options.maxDepth} levels`, {
      reason: 'depth',
      limit: options.maxDepth,
    })
  if (w.cost > options.maxCost)
    return refusal(`the query selects more than the limit of ${options.maxCost} fields`, {
      reason: 'cost',
      limit: options.maxCost,
    })
  const rules = options.introspection
    ? gql.specifiedRules
    : [...gql.specifiedRules, gql.NoSchemaIntrospectionCustomRule]
  const invalid = gql.validate(schema, doc, rules, { maxErrors: 10 })
  if (invalid.length > 0) return invalid.map((e) => requestError(e))
  return doc
}

/** An execution's result as the endpoint answers it: each error with its code. */
function answerOf(out: ExecutionResult): GraphqlAnswer {
  const answer: GraphqlAnswer = { data: (out.data ?? null) as Record<string, unknown> | null }
  if (out.errors !== undefined && out.errors.length > 0) answer.errors = out.errors.map(fieldError)
  return answer
}

/** The token a WebSocket connects with: `connectionParams.authorization`, else the upgrade's Authorization header, else the login cookie. */
function tokenOf(params: unknown, req: IncomingMessage, cookie: string | undefined): string | undefined {
  const given = (params as { authorization?: unknown } | undefined)?.authorization
  const header = typeof given === 'string' ? given : req.headers.authorization
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(header.trim())
    if (m !== null) return m[1]
  }
  return cookie === undefined ? undefined : readCookie(req.headers.cookie, cookie)
}

/** The upgrade request's headers a route would pass on. */
function pickHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of names) {
    const v = req.headers[n]
    if (typeof v === 'string') out[n] = v
  }
  return out
}

/** The fields of the options, with the schemas of the actions they call (local ones; a remote one is `JSON`). */
async function operationsOf(stoa: Stoa<any>, options: ReturnType<typeof graphqlOptions.parse>): Promise<Operation[]> {
  const out: Operation[] = []
  for (const [kind, fields] of [
    ['query', options.queries],
    ['mutation', options.mutations],
  ] as const) {
    for (const [name, pattern] of Object.entries(fields)) {
      const target = patternString(toPattern(pattern))
      const info = stoa.find(target, { exact: true }) ?? stoa.find(target)
      // Nothing answers it yet (a client not attached in this set-up): the field is JSON in and
      // out, and a call answers NOT_FOUND as any act would.
      if (info === undefined)
        stoa.log.info({ field: name, pattern: target }, 'a GraphQL field calls an action no one answers yet')
      const result = (info?.options as { result?: Parameters<typeof toJsonSchema>[0] } | undefined)?.result
      out.push({
        name,
        kind,
        target,
        description: info?.description,
        input: info?.schema === undefined ? undefined : schemaOf(await toJsonSchema(info.schema, 'input')),
        output: result === undefined ? undefined : schemaOf(await toJsonSchema(result, 'output')),
      })
    }
  }
  for (const [name, spec] of Object.entries(options.subscriptions)) {
    const s: { event: string; open?: string | undefined; map?: string | undefined } =
      typeof spec === 'string' ? { event: spec } : spec
    const map = s.map === undefined ? undefined : patternString(toPattern(s.map))
    const info = map === undefined ? undefined : (stoa.find(map, { exact: true }) ?? stoa.find(map))
    const result = (info?.options as { result?: Parameters<typeof toJsonSchema>[0] } | undefined)?.result
    out.push({
      name,
      kind: 'subscription',
      target: s.event,
      open: s.open === undefined ? undefined : patternString(toPattern(s.open)),
      map,
      description: undefined,
      input: undefined,
      output: result === undefined ? undefined : schemaOf(await toJsonSchema(result, 'output')),
    })
  }
  return out
}

function schemaOf(e: Awaited<ReturnType<typeof toJsonSchema>>): JsonSchema | undefined {
  return 'schema' in e ? e.schema : undefined
}

/** The errors refusing a whole request before it runs. */
function refusal(message: string, details: Record<string, unknown>): GraphqlErrorJSON[] {
  return [{ message, extensions: { code: 'INVALID_MESSAGE', details } }]
}

/** A syntax or validation error: the request is refused, `INVALID_MESSAGE`. */
function requestError(e: GraphQLError, details?: Record<string, unknown>): GraphqlErrorJSON {
  const out: GraphqlErrorJSON = { message: e.message, extensions: { code: 'INVALID_MESSAGE' } }
  if (details !== undefined && /tokens/.test(e.message)) out.extensions.details = { reason: 'tokens', ...details }
  if (e.locations !== undefined) out.locations = e.locations
  return out
}

/** A field's failure: the action's StoaError with its code, anything else `ACTION_FAILED` without its message. */
function fieldError(e: GraphQLError): GraphqlErrorJSON {
  const original = e.originalError
  // No original: GraphQL's own refusal of the request's values (a variable of the wrong type).
  const stoa = original === undefined || original === null ? undefined : toStoaError(original).toJSON()
  const out: GraphqlErrorJSON =
    stoa === undefined
      ? { message: e.message, extensions: { code: 'INVALID_MESSAGE' } }
      : {
          message: stoa.message,
          extensions: stoa.details === undefined ? { code: stoa.code } : { code: stoa.code, details: stoa.details },
        }
  if (e.locations !== undefined) out.locations = e.locations
  if (e.path !== undefined) out.path = e.path
  return out
}

export default graphql

/**
 * The endpoint's CORS: the origins trusted with the WebSocket and event streams may also `POST`
 * operations from their pages, cookies included where a login cookie is taken; others get no
 * `Access-Control-Allow-Origin`.
 */
function corsOf(options: { allowedOrigins: readonly string[]; cookie?: unknown }): CorsPolicy {
  return Object.freeze({
    origins: options.allowedOrigins,
    methods: ['POST'],
    headers: ['content-type', 'authorization', 'accept', 'last-event-id'],
    exposeHeaders: ['retry-after', 'ratelimit', 'ratelimit-policy'],
    credentials: options.cookie !== undefined && !options.allowedOrigins.includes('*'),
    maxAgeSec: 600,
  })
}
