import type {
  GraphQLFieldConfig,
  GraphQLFieldConfigArgumentMap,
  GraphQLInputType,
  GraphQLOutputType,
  GraphQLScalarType,
  GraphQLSchema,
} from 'graphql'
import type { JsonSchema } from '../contracts/index.js'

type GraphQL = typeof import('graphql')

/** What a field of the schema calls. */
export interface Operation {
  /** The field's name. */
  readonly name: string
  readonly kind: 'query' | 'mutation' | 'subscription'
  /** The action's canonical pattern, or the event pattern a subscription streams. */
  readonly target: string
  /** For a subscription: the action run with the caller's identity before it starts, if any. */
  readonly open?: string | undefined
  /** For a subscription: the action each event goes through, if any (its result schema is `output`). */
  readonly map?: string | undefined
  readonly description: string | undefined
  /** The JSON Schema of the message (its top properties become arguments), if known. */
  readonly input: JsonSchema | undefined
  /** The JSON Schema of the result, if known; else the field is `JSON`. */
  readonly output: JsonSchema | undefined
}

/** How a field runs: an act of its action, or a stream of its event, with the request's context. */
export interface Runners {
  act(op: Operation, args: Record<string, unknown>, context: unknown): Promise<unknown>
  subscribe(op: Operation, context: unknown): Promise<AsyncIterable<unknown>>
}

const INT32 = 2 ** 31

/**
 * The GraphQL schema of `operations`: a `JSON` scalar, object types for results and input
 * types for arguments made from their JSON Schemas where these say enough (an object with
 * properties, scalars, arrays), `JSON` where they do not.
 */
export function buildSchema(gql: GraphQL, operations: readonly Operation[], runners: Runners): GraphQLSchema {
  const json = jsonScalar(gql)
  const names = new Set<string>()
  const unique = (want: string): string => {
    let name = want
    for (let i = 2; names.has(name); i++) name = `${want}${i}`
    names.add(name)
    return name
  }

  const output = (s: JsonSchema | undefined, name: string): GraphQLOutputType => {
    const scalar = scalarOf(gql, s)
    if (scalar !== undefined) return scalar
    if (s?.type === 'array' && isObject(s.items)) return new gql.GraphQLList(output(s.items, `${name}Item`))
    const props = propertiesOf(s)
    if (props === undefined) return json
    const required = new Set((s!.required as string[] | undefined) ?? [])
    const typeName = unique(name)
    return new gql.GraphQLObjectType({
      name: typeName,
      fields: () =>
        Object.fromEntries(
          props.map(([key, p]) => {
            const t = output(p, `${typeName}${pascal(key)}`)
            return [key, { type: required.has(key) ? new gql.GraphQLNonNull(t) : t, description: describe(p) }]
          }),
        ),
    })
  }
  const input = (s: JsonSchema | undefined, name: string): GraphQLInputType => {
    const scalar = scalarOf(gql, s)
    if (scalar !== undefined) return scalar
    if (s?.type === 'array' && isObject(s.items)) return new gql.GraphQLList(input(s.items, `${name}Item`))
    const props = propertiesOf(s)
    if (props === undefined) return json
    const required = new Set((s!.required as string[] | undefined) ?? [])
    const typeName = unique(`${name}Input`)
    return new gql.GraphQLInputObjectType({
      name: typeName,
      fields: () =>
        Object.fromEntries(
          props.map(([key, p]) => {
            const t = input(p, `${name}${pascal(key)}`)
            return [key, { type: required.has(key) ? new gql.GraphQLNonNull(t) : t, description: describe(p) }]
          }),
        ),
    })
  }
  const args = (op: Operation): GraphQLFieldConfigArgumentMap => {
    const props = propertiesOf(op.input)
    if (props === undefined) return { input: { type: json } }
    const required = new Set((op.input!.required as string[] | undefined) ?? [])
    return Object.fromEntries(
      props.map(([key, p]) => {
        const t = input(p, `${pascal(op.name)}${pascal(key)}`)
        return [key, { type: required.has(key) ? new gql.GraphQLNonNull(t) : t, description: describe(p) }]
      }),
    )
  }
  /** Arguments back to the message: the one `input` argument is the message itself. */
  // Decided once per field, not on each call: its schema is known when the schema is built.
  const message = (op: Operation): ((given: Record<string, unknown>) => Record<string, unknown>) => {
    if (propertiesOf(op.input) !== undefined) return (given) => plain(given) as Record<string, unknown>
    return (given) => {
      const whole = given.input
      return whole !== null && typeof whole === 'object' && !Array.isArray(whole)
        ? (whole as Record<string, unknown>)
        : {}
    }
  }

  const fields = (kind: Operation['kind']): Record<string, GraphQLFieldConfig<unknown, unknown>> | undefined => {
    const ops = operations.filter((o) => o.kind === kind)
    if (ops.length === 0) return undefined
    return Object.fromEntries(
      ops.map((op): [string, GraphQLFieldConfig<unknown, unknown>] => {
        const type = output(op.output, `${pascal(op.name)}Result`)
        if (kind === 'subscription')
          return [
            op.name,
            {
              type: op.map === undefined ? json : type,
              description:
                op.description ??
                (op.map === undefined
                  ? `each ${op.target} event this instance hears, its data as emitted`
                  : `what ${op.map} answers for each ${op.target} event this instance hears`),
              subscribe: (_root, _args, context) => runners.subscribe(op, context),
              resolve: (data) => data,
            },
          ]
        const description = op.description ?? `calls ${op.target}`
        const toMessage = message(op)
        return [
          op.name,
          {
            type,
            description,
            args: args(op),
            resolve: (_root, given, context) => runners.act(op, toMessage(given), context),
          },
        ]
      }),
    )
  }
  const object = (name: string, f: ReturnType<typeof fields>) =>
    f === undefined ? undefined : new gql.GraphQLObjectType({ name, fields: f })
  // A schema must have a query type: with no query declared it answers `ok` (true), so that
  // introspection and tools work.
  const query =
    object('Query', fields('query')) ??
    new gql.GraphQLObjectType({
      name: 'Query',
      fields: { ok: { type: new gql.GraphQLNonNull(gql.GraphQLBoolean), resolve: () => true } },
    })
  const mutation = object('Mutation', fields('mutation'))
  const subscription = object('Subscription', fields('subscription'))
  return new gql.GraphQLSchema({
    query,
    ...(mutation === undefined ? {} : { mutation }),
    ...(subscription === undefined ? {} : { subscription }),
    types: [json],
  })
}

/** `JSON`: any JSON value, as the action takes or gives it. */
function jsonScalar(gql: GraphQL): GraphQLScalarType {
  const literal = (
    node: import('graphql').ValueNode,
    variables: Record<string, unknown> | null | undefined,
  ): unknown => {
    switch (node.kind) {
      case gql.Kind.STRING:
      case gql.Kind.BOOLEAN:
      case gql.Kind.ENUM:
        return node.value
      case gql.Kind.INT:
      case gql.Kind.FLOAT:
        return Number(node.value)
      case gql.Kind.NULL:
        return null
      case gql.Kind.LIST:
        return node.values.map((v) => literal(v, variables))
      case gql.Kind.OBJECT:
        return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value, variables)]))
      case gql.Kind.VARIABLE:
        return variables?.[node.name.value]
    }
  }
  return new gql.GraphQLScalarType({
    name: 'JSON',
    description: 'Any JSON value: what the action takes or gives where its schema says no more.',
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: literal,
  })
}

function scalarOf(gql: GraphQL, s: JsonSchema | undefined): GraphQLScalarType | undefined {
  switch (s?.type) {
    case 'string':
      return gql.GraphQLString
    case 'boolean':
      return gql.GraphQLBoolean
    case 'number':
      return gql.GraphQLFloat
    case 'integer': {
      // GraphQL's Int is 32 bits: a wider integer (a time in ms) is a Float.
      const min = typeof s.minimum === 'number' ? s.minimum : Number.NEGATIVE_INFINITY
      const max = typeof s.maximum === 'number' ? s.maximum : Number.POSITIVE_INFINITY
      return min >= -INT32 && max < INT32 ? gql.GraphQLInt : gql.GraphQLFloat
    }
    default:
      return undefined
  }
}

/** The properties of an object schema whose names GraphQL can carry, or undefined. */
function propertiesOf(s: JsonSchema | undefined): [string, JsonSchema][] | undefined {
  if (s === undefined || s.type !== 'object' || !isObject(s.properties)) return undefined
  const props = Object.entries(s.properties as Record<string, unknown>)
  if (
    props.length === 0 ||
    props.some(([k, p]) => !/^[_A-Za-z][_0-9A-Za-z]*$/.test(k) || k.startsWith('__') || !isObject(p))
  )
    return undefined
  return props as [string, JsonSchema][]
}

function isObject(v: unknown): v is JsonSchema {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function describe(s: JsonSchema): string | undefined {
  return typeof s.description === 'string' ? s.description : undefined
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1)
}

/** GraphQL hands arguments over as null-prototype objects: the action gets plain ones. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(plain)
  const out: Record<string, unknown> = {}
  for (const k in v) {
    const x = plain((v as Record<string, unknown>)[k])
    // A JSON value may hold a `__proto__` key: an own property, never the prototype.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true })
    else out[k] = x
  }
  return out
}
