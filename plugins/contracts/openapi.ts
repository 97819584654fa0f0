import type { ErrorCode } from '../../actions/index.js'
import { ERRORS } from '../../actions/index.js'
import type { JsonSchema } from './json-schema.js'
import type { Contract, ContractAction, ContractRoute } from './model.js'

/** Options of {@link toOpenApi}. */
export interface OpenApiOptions {
  /** `info.title`; default the services' names. */
  readonly title?: string
  /** Base URLs of the API, for `servers`. Default none: paths relative to where the document is served. */
  readonly servers?: readonly string[]
}

/** Methods whose request the web pipeline reads a body for, as clients send one. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The OpenAPI 3.1 document of the web routes of one or more services. A route's action is
 * looked up in every contract given, so a gateway's document describes the actions it forwards
 * to other services when their contracts come along. Each operation has its path and query
 * parameters, its request body, its success answer (the action's result schema, with the
 * route's status) and the error answers the route can give, each status with its codes from
 * the error table; the security schemes are the bearer JWT and the login cookie.
 *
 * @example
 * const doc = toOpenApi([await describeContract(gateway), await describeContract(stoa)])
 */
export function toOpenApi(contracts: readonly Contract[], options: OpenApiOptions = {}): Record<string, unknown> {
  const actions = new Map<string, ContractAction>()
  for (const c of contracts) for (const a of c.actions) if (!actions.has(a.pattern)) actions.set(a.pattern, a)
  const paths: Record<string, Record<string, unknown>> = {}
  const ids = new Set<string>()
  let cookie: string | null = null
  let bearer = false
  for (const contract of contracts) {
    for (const route of contract.routes) {
      const action = actions.get(route.pattern)
      const path = openApiPath(route.path)
      paths[path] ??= {}
      const op = route.stream === undefined ? operation(route, action, contract, ids) : streamOperation(route, ids)
      if (op.secured) {
        bearer ||= contract.plugins.jwt
        cookie ??= route.cookie
      }
      paths[path][route.method.toLowerCase()] = op.doc
    }
  }
  const securitySchemes: Record<string, unknown> = {}
  if (bearer)
    securitySchemes.bearer = {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'the identity token, verified by the jwt plugin',
    }
  if (cookie !== null)
    securitySchemes.cookie = {
      type: 'apiKey',
      in: 'cookie',
      name: cookie,
      description: 'the same token in the login cookie; a state-changing request must come from an allowed origin',
    }
  const doc: Record<string, unknown> = {
    openapi: '3.1.0',
    info: {
      title: options.title ?? contracts.map((c) => c.service).join(', '),
      version: contracts[0]?.version ?? '0.0.0',
    },
  }
  if (options.servers !== undefined && options.servers.length > 0) doc.servers = options.servers.map((url) => ({ url }))
  doc.paths = paths
  doc.components = {
    schemas: { ErrorCode: { type: 'string', enum: Object.keys(ERRORS) } },
    ...(Object.keys(securitySchemes).length > 0 ? { securitySchemes } : {}),
  }
  return doc
}

/** `/votes/:id` as OpenAPI writes it: `/votes/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** The path parameters of an express-style path. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)
}

/** A name for the operation: the pattern's values (`vote.cast` for `role:vote,cmd:cast`). */
export function operationName(route: { method: string; pattern: string }, taken: Set<string>): string {
  const pairs = Object.fromEntries(route.pattern.split(',').map((p) => p.split(':') as [string, string]))
  const { role, cmd, ...rest } = pairs
  const parts = [role, cmd, ...Object.values(rest)].filter((v): v is string => v !== undefined)
  let name = parts.join('.').replace(/[^A-Za-z0-9_.]/g, '_') || 'call'
  if (taken.has(name)) name = `${name}.${route.method.toLowerCase()}`
  let n = 2
  const base = name
  while (taken.has(name)) name = `${base}${n++}`
  taken.add(name)
  return name
}

function operation(
  route: ContractRoute,
  action: ContractAction | undefined,
  contract: Contract,
  ids: Set<string>,
): { doc: Record<string, unknown>; secured: boolean } {
  const params = pathParams(route.path)
  const pairKeys = new Set(Object.keys(action?.pairs ?? {}))
  const message = route.message === 'flat' ? action?.message : undefined
  const props = (message?.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set(Array.isArray(message?.required) ? (message.required as string[]) : [])
  const parameters: Record<string, unknown>[] = params.map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: props[name] ?? { type: 'string' },
  }))
  const hasBody = BODY_METHODS.has(route.method)
  if (!hasBody) {
    for (const [name, schema] of Object.entries(props)) {
      if (params.includes(name) || pairKeys.has(name)) continue
      parameters.push({ name, in: 'query', required: required.has(name), schema })
    }
  }
  const doc: Record<string, unknown> = {
    operationId: operationName(route, ids),
    summary: action?.description ?? route.pattern,
    'x-stoa-pattern': route.pattern,
  }
  if (action?.permission != null) doc['x-stoa-permission'] = action.permission
  if (action === undefined) doc.description = `runs ${route.pattern}, an action of another service`
  if (parameters.length > 0) doc.parameters = parameters
  if (hasBody) {
    doc.requestBody = {
      required: message != null && required.size > 0,
      content: { 'application/json': { schema: message == null ? { type: 'object' } : bodySchema(message, params) } },
    }
  }
  const secured = action !== undefined ? !action.public && (action.permission !== null || contract.plugins.jwt) : false
  const codes = errorCodes(route, action, contract, hasBody, secured)
  const responses: Record<string, unknown> = {}
  const result = action?.result ?? null
  responses[String(route.status)] = {
    description: route.status === 202 ? 'accepted' : 'the action answered',
    ...(result !== null && isEmptyResult(result) ? {} : { content: { 'application/json': { schema: result ?? {} } } }),
  }
  for (const [status, list] of byStatus(codes)) {
    responses[String(status)] = {
      description: list.map((code) => `${code}: ${ERRORS[code].summary}`).join('; '),
      content: { 'application/json': { schema: errorBody(list) } },
    }
  }
  doc.responses = responses
  if (action !== undefined) {
    if (secured) doc.security = route.cookie === null ? [{ bearer: [] }] : [{ bearer: [] }, { cookie: [] }]
    else doc.security = []
  }
  return { doc, secured }
}

/**
 * A stream route: a `GET` answered with server-sent events (or upgraded to a WebSocket), one
 * per event of its name, for as long as the client stays. Its open action, when it has one,
 * decides who may listen; the connection limit answers 503.
 */
function streamOperation(route: ContractRoute, ids: Set<string>): { doc: Record<string, unknown>; secured: boolean } {
  const event = route.stream!.event
  const codes: ErrorCode[] = ['UNAUTHENTICATED', 'FORBIDDEN', 'OVERLOADED']
  const responses: Record<string, unknown> = {
    200: {
      description: `the events "${event}" as server-sent events (id, event name, JSON data), with heartbeats; the same path upgrades to a WebSocket`,
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    },
  }
  for (const [status, list] of byStatus(codes)) {
    responses[String(status)] = {
      description: list.map((code) => `${code}: ${ERRORS[code].summary}`).join('; '),
      content: { 'application/json': { schema: errorBody(list) } },
    }
  }
  const doc: Record<string, unknown> = {
    operationId: operationName({ method: route.method, pattern: `stream:${event}` }, ids),
    summary: `streams ${event}`,
    'x-stoa-stream': event,
    parameters: [
      {
        name: 'Last-Event-ID',
        in: 'header',
        required: false,
        schema: { type: 'string' },
        description: 'resume after this event, while this instance still holds it',
      },
    ],
    responses,
  }
  return { doc, secured: false }
}

/** The message schema as a body: the path parameters come from the path, so a body need not repeat them. */
function bodySchema(message: JsonSchema, params: readonly string[]): JsonSchema {
  if (params.length === 0 || !Array.isArray(message.required)) return message
  return { ...message, required: (message.required as string[]).filter((k) => !params.includes(k)) }
}

function isEmptyResult(schema: JsonSchema): boolean {
  return schema.type === 'null' || (schema.not !== undefined && Object.keys(schema).length === 1)
}

/** The codes a route can answer with, beyond its success: what its checks and its action can refuse. */
function errorCodes(
  route: ContractRoute,
  action: ContractAction | undefined,
  contract: Contract,
  hasBody: boolean,
  secured: boolean,
): ErrorCode[] {
  const codes: ErrorCode[] = []
  if (action?.message != null || route.message === 'seneca-web') codes.push('INVALID_MESSAGE')
  if (hasBody) codes.push('INVALID_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE')
  if (secured) codes.push('UNAUTHENTICATED')
  if (secured && (action?.permission != null || route.cookie !== null)) codes.push('FORBIDDEN')
  if (action === undefined) codes.push('NOT_FOUND', 'UNAVAILABLE')
  if (action?.bulkhead === true || contract.plugins.bulkhead) codes.push('OVERLOADED')
  if (contract.plugins.ratelimit === true) codes.push('RATE_LIMITED')
  codes.push('CLOSED', 'TIMEOUT', 'ACTION_FAILED')
  return codes
}

function byStatus(codes: readonly ErrorCode[]): [number, ErrorCode[]][] {
  const out = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = ERRORS[code].http
    out.set(status, [...(out.get(status) ?? []), code])
  }
  return [...out].sort((a, b) => a[0] - b[0])
}

/** The web plugin's error body, `{ error: { code, message, details? } }`, with the codes of one status. */
function errorBody(codes: readonly ErrorCode[]): JsonSchema {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: [...codes] },
          message: { type: 'string' },
          details: { type: 'object' },
        },
      },
    },
  }
}
