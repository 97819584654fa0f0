import type { DocumentNode, ExecutionArgs, ExecutionResult, GraphQLSchema } from 'graphql'
import type { CallOptions } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type { EventRecords, EventStreamRoute } from '../../actions/transport.js'
import type { Connections } from './ws.js'
import { countedRecords, originAllowed, overloaded } from './ws.js'

type GraphQL = typeof import('graphql')
type GraphqlSse = typeof import('graphql-sse')

/** What a field's resolver calls through (see the plugin's `Caller`). */
export interface SseCaller {
  act(pattern: string, msg: Record<string, unknown>): Promise<unknown>
  readonly token?: string | undefined
}

/** What the GraphQL plugin gives its server-sent events endpoint. */
export interface SseParts {
  readonly gql: GraphQL
  readonly schema: GraphQLSchema
  /** A document parsed and checked against the limits and the schema, or the errors refusing it. */
  prepared(query: string): DocumentNode | readonly object[]
  /** An execution's result with each error's stable code. */
  answer(result: ExecutionResult): object
  /** A subscription's failure (a map refused, the subscriber too slow) as its errors, with the code. */
  failure(err: unknown): object[]
  /** The caller an operation's fields call through, from the request's call options. */
  caller(opts: CallOptions): SseCaller
  /** Origins besides the server's own whose pages may open a stream (`*` for any). */
  readonly allowedOrigins: readonly string[]
  /** Bytes a client may have waiting unsent before it is dropped. */
  readonly maxBufferedBytes: number
  /** The connections the plugin holds, WebSockets too: a stream past the limit is refused. */
  readonly held: Connections
}

/**
 * The GraphQL route's event-stream answers: GraphQL over server-sent events as graphql-sse
 * speaks it, in its "distinct connections" mode only (one `POST` with `Accept:
 * text/event-stream` per operation, the stream its results). Its "single connection" mode
 * keeps a reservation on the instance that took the `PUT`, which a load balancer without
 * sticky sessions would send the next request past; it is not served.
 *
 * The web pipeline has run the route's checks (body size and JSON, the token from the
 * Authorization header or the login cookie with its same-origin rule, CORS); here the `Origin`
 * is checked as for the WebSocket, and the document against the same limits.
 */
export function eventStreamRoute(sse: GraphqlSse, path: string, parts: SseParts): EventStreamRoute {
  const { gql, schema } = parts
  // Results already in their answer's form (refusals, failures): sent as they are.
  const formed = new WeakSet<object>()
  const once = (result: object): AsyncGenerator<ExecutionResult> => {
    formed.add(result)
    return (async function* () {
      yield result as ExecutionResult
    })()
  }
  const handler = sse.createHandler<EventStreamRequestRaw, SseCaller, any>({
    schema,
    // No token: every request is a distinct connection (see above).
    authenticate: () => null,
    // The document was checked in onSubscribe, with the limits and the plugin's rules.
    validate: () => [],
    onSubscribe: (req, params) => {
      const doc = parts.prepared(params.query)
      if (Array.isArray(doc)) return once({ errors: doc })
      return {
        schema,
        document: doc as DocumentNode,
        variableValues: params.variables ?? undefined,
        operationName: params.operationName ?? undefined,
        contextValue: req.context,
      } satisfies ExecutionArgs
    },
    subscribe: async (args) => {
      const out = await gql.subscribe(args)
      if (!isAsyncIterable(out)) return out
      // A subscription failing mid-stream: its error as a last result, with its code, so the
      // client learns why (graphql-sse would end the stream without a word).
      const it = out[Symbol.asyncIterator]()
      let failed = false
      const results: AsyncGenerator<ExecutionResult> = {
        next: async () => {
          if (failed) return { value: undefined, done: true }
          try {
            return await it.next()
          } catch (err) {
            failed = true
            const value = { errors: parts.failure(err) }
            formed.add(value)
            return { value: value as ExecutionResult, done: false }
          }
        },
        return: async () => {
          await it.return?.()
          return { value: undefined, done: true }
        },
        throw: async (err: unknown) => {
          await it.return?.()
          throw err
        },
        [Symbol.asyncIterator]: () => results,
        [Symbol.asyncDispose]: async () => void (await it.return?.()),
      } as AsyncGenerator<ExecutionResult>
      return results
    },
    onNext: (_ctx, _req, result) =>
      formed.has(result) ? undefined : (parts.answer(result as ExecutionResult) as ExecutionResult),
  })
  return {
    open: async ({ headers, msg, opts }): Promise<EventRecords> => {
      if (!originAllowed(headers, parts.allowedOrigins))
        throw new StoaError('FORBIDDEN', 'GraphQL event streams from this origin are not allowed')
      if (parts.held.n >= parts.held.max) throw overloaded('event streams')
      const body = requestOf(msg)
      const [records, init] = await handler({
        method: 'POST',
        url: path,
        headers: {
          // The pipeline decided this request asks for an event stream and holds a JSON body:
          // graphql-sse is told so in the exact words it compares.
          get: (key) =>
            key === 'accept'
              ? 'text/event-stream'
              : key === 'content-type'
                ? 'application/json'
                : first(headers[key.toLowerCase()]),
        },
        body,
        raw: { headers },
        context: parts.caller(opts),
      })
      if (records === null || typeof records === 'string')
        throw new StoaError('INVALID_MESSAGE', messageOf(records) ?? `the GraphQL request was refused (${init.status})`)
      return {
        kind: 'records',
        headers: { ...init.headers },
        records: countedRecords(records, parts.held),
        maxBufferedBytes: parts.maxBufferedBytes,
      }
    },
  }
}

/** What graphql-sse's requests carry as `raw`: the headers (for a custom hook, none here). */
interface EventStreamRequestRaw {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
}

/**
 * A GraphQL request's parts from the route's message, checked as the HTTP endpoint checks them.
 *
 * @internal
 */
export function requestOf(msg: Record<string, unknown>): {
  query: string
  variables?: Record<string, unknown>
  operationName?: string
} {
  const { query, variables, operationName } = msg
  if (typeof query !== 'string')
    throw new StoaError('INVALID_MESSAGE', 'a GraphQL request is { query, variables?, operationName? }', {
      fields: ['query'],
    })
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables)))
    throw new StoaError('INVALID_MESSAGE', 'variables must be an object', { fields: ['variables'] })
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
    throw new StoaError('INVALID_MESSAGE', 'operationName must be a string', { fields: ['operationName'] })
  return {
    query,
    ...(variables === undefined || variables === null ? {} : { variables: variables as Record<string, unknown> }),
    ...(typeof operationName === 'string' ? { operationName } : {}),
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<ExecutionResult> {
  return v !== null && typeof v === 'object' && Symbol.asyncIterator in v
}

function first(v: string | readonly string[] | undefined): string | undefined {
  return v === undefined || typeof v === 'string' ? v : v[0]
}

/** The first error message of one of graphql-sse's own JSON refusals. */
function messageOf(body: string | null): string | undefined {
  if (body === null) return undefined
  try {
    const m = (JSON.parse(body) as { errors?: { message?: unknown }[] }).errors?.[0]?.message
    return typeof m === 'string' ? m : undefined
  } catch {
    return undefined
  }
}
