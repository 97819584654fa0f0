/**
 * The GraphQL plugin: a GraphQL endpoint over a service's actions, on the web plugin's routes.
 * Each query and mutation field calls one action with the caller's identity, so jwt, authz and
 * rate limits apply as they do to a web route; types come from the actions' message and
 * result schemas (as the contracts plugin exports them), `JSON` where there are none. See
 * docs/graphql.md.
 */
import type { DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema } from 'graphql'
import type { Context, PluginHost, Stoa } from '../../actions/index.js'
import { definePlugin, patternString, StoaError, toPattern } from '../../actions/index.js'
import type { ServedRoute } from '../../actions/transport.js'
import { loadPeer, routeTableAction, toStoaError } from '../../actions/transport.js'
import type { JsonSchema } from '../contracts/index.js'
import { toJsonSchema } from '../contracts/index.js'
import { weigh } from './limits.js'
import { graphqlOptions } from './options.js'
import type { Operation } from './schema.js'
import { buildSchema } from './schema.js'

export type { GraphqlOptions } from './options.js'

type GraphQL = typeof import('graphql')

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
  setup: (options) => {
    let ready: Promise<{ gql: GraphQL; schema: GraphQLSchema }> | undefined
    const execute = async (msg: Record<string, unknown>, ctx: Context): Promise<GraphqlAnswer> => {
      if (ready === undefined) throw new StoaError('UNAVAILABLE', 'the GraphQL schema is not built yet')
      const { gql, schema } = await ready
      const { query, variables, operationName } = msg
      if (typeof query !== 'string')
        throw new StoaError('INVALID_MESSAGE', 'a GraphQL request is { query, variables?, operationName? }', {
          fields: ['query'],
        })
      if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables)))
        throw new StoaError('INVALID_MESSAGE', 'variables must be an object', { fields: ['variables'] })
      if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
        throw new StoaError('INVALID_MESSAGE', 'operationName must be a string', { fields: ['operationName'] })
      let doc: DocumentNode
      try {
        doc = gql.parse(query, { maxTokens: options.maxTokens })
      } catch (err) {
        return { errors: [requestError(err as GraphQLError, { limit: options.maxTokens })] }
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
      if (invalid.length > 0) return { errors: invalid.map((e) => requestError(e)) }
      const out = (await gql.execute({
        schema,
        document: doc,
        variableValues: (variables ?? undefined) as Record<string, unknown> | undefined,
        operationName: (operationName ?? undefined) as string | undefined,
        contextValue: ctx,
      })) as ExecutionResult
      const answer: GraphqlAnswer = { data: (out.data ?? null) as Record<string, unknown> | null }
      if (out.errors !== undefined && out.errors.length > 0) answer.errors = out.errors.map(fieldError)
      return answer
    }
    return {
      actions: {
        [GRAPHQL_EXECUTE]: {
          public: true,
          description: 'answers a GraphQL request; each field calls its action with the caller’s identity',
          handler: (msg: Record<string, unknown>, ctx: Context) => execute(msg, ctx),
        },
      },
      init: (host: PluginHost) => {
        const stoa = host as unknown as Stoa<any>
        ready = (async () => {
          const gql = await loadPeer<GraphQL>('graphql', 'stoa/graphql')
          const ops = await operationsOf(stoa, options)
          const schema = buildSchema(gql, ops, {
            act: (op, args, context) => (context as Context).act(op.target, args),
          })
          return { gql, schema }
        })()
        // A failure is the start's: ready() rejects with it.
        return ready.then(() => {
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
              } satisfies ServedRoute),
            ]),
          )
        })
      },
      handle: {
        /** The schema the endpoint serves, once the instance has started. */
        schema: async (): Promise<GraphQLSchema> => {
          if (ready === undefined) throw new StoaError('UNAVAILABLE', 'the GraphQL schema is not built yet')
          return (await ready).schema
        },
      },
    }
  },
})

/** The fields of the options, with the schemas of the actions they call (local ones; a remote one is `JSON`). */
async function operationsOf(stoa: Stoa<any>, options: ReturnType<typeof graphqlOptions.parse>): Promise<Operation[]> {
  const out: Operation[] = []
  const taken = new Set<string>()
  for (const [kind, fields] of [
    ['query', options.queries],
    ['mutation', options.mutations],
  ] as const) {
    for (const [name, pattern] of Object.entries(fields)) {
      if (taken.has(name) && kind === 'query')
        throw new StoaError('INVALID_OPTIONS', `graphql: the query "${name}" is named twice`, { fields: [name] })
      taken.add(name)
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
  return out
}

function schemaOf(e: Awaited<ReturnType<typeof toJsonSchema>>): JsonSchema | undefined {
  return 'schema' in e ? e.schema : undefined
}

/** The answer refusing a whole request before it runs. */
function refusal(message: string, details: Record<string, unknown>): GraphqlAnswer {
  return { errors: [{ message, extensions: { code: 'INVALID_MESSAGE', details } }] }
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
