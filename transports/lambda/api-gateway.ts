import type { HttpRequest, WebResponse } from '../../actions/transport.js'
import type { EventProcessor, HandlerRuntime, LambdaContext } from './processor.js'
import { budgetMs, lambdaDeadline } from './processor.js'

/*
 * API Gateway REST APIs (payload 1.0), HTTP APIs (payload 2.0) and Lambda function URLs (2.0
 * as well), served from the same route table as express, through the one web pipeline of
 * `stoa/transport` (`createWebPipeline`), which owns the whole request as it does for serveWeb
 * and mountWeb. What this file does is only translate: the event into a request description,
 * the answer into the payload's answer shape.
 *
 * The shapes: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */

/** An API Gateway request as the web pipeline reads it. */
class GatewayRequest implements HttpRequest {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly query: string | Readonly<Record<string, unknown>> | undefined,
    readonly headers: Record<string, string>,
    private readonly raw: string | null | undefined,
    private readonly base64: boolean,
    readonly limitMs: number | undefined,
  ) {}

  body(): string | Buffer | undefined {
    const raw = this.raw
    if (raw === undefined || raw === null || raw === '') return undefined
    return this.base64 ? Buffer.from(raw, 'base64') : raw
  }
}

/** The parts of a payload 1.0 event read here. */
interface V1Event {
  httpMethod: string
  path: string
  headers?: Record<string, string | undefined> | null
  multiValueHeaders?: Record<string, string[] | undefined> | null
  queryStringParameters?: Record<string, string | undefined> | null
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null
  body?: string | null
  isBase64Encoded?: boolean
}

/** The parts of a payload 2.0 event read here. */
interface V2Event {
  version: '2.0'
  rawPath: string
  rawQueryString?: string
  cookies?: string[]
  headers?: Record<string, string | undefined>
  body?: string
  isBase64Encoded?: boolean
  requestContext: { http: { method: string }; stage?: string }
}

/** API Gateway REST API proxy events (payload 1.0). */
export const apiGatewayV1Processor: EventProcessor<V1Event> = {
  kind: 'apigw-v1',
  matches(e) {
    const rc = e.requestContext as Record<string, unknown> | undefined
    // An ALB event looks alike but has requestContext.elb and wants another answer shape.
    return (
      typeof e.httpMethod === 'string' &&
      typeof e.path === 'string' &&
      rc !== null &&
      typeof rc === 'object' &&
      rc.elb === undefined &&
      e.version !== '2.0'
    )
  },
  handle(event, context, rt) {
    return serve(
      rt,
      context,
      event.httpMethod.toUpperCase(),
      event.path,
      v1Query(event),
      v1Headers(event),
      event.body,
      event.isBase64Encoded === true,
    ).then(v1Answer)
  },
}

/** The payload 1.0 answer: repeated headers (set-cookie) go in multiValueHeaders. */
function v1Answer(res: WebResponse) {
  const headers: Record<string, string> = {}
  let multiValueHeaders: Record<string, string[]> | undefined
  for (const name in res.headers) {
    const value = res.headers[name]!
    if (typeof value === 'string') headers[name] = value
    else (multiValueHeaders ??= {})[name] = value
  }
  return multiValueHeaders === undefined
    ? { statusCode: res.status, headers, body: res.body ?? '', isBase64Encoded: false }
    : { statusCode: res.status, headers, multiValueHeaders, body: res.body ?? '', isBase64Encoded: false }
}

/** API Gateway HTTP API events and Lambda function URL events (payload 2.0). */
export const apiGatewayV2Processor: EventProcessor<V2Event> = {
  kind: 'apigw-v2',
  matches(e) {
    const rc = e.requestContext as { http?: { method?: unknown } } | undefined
    return e.version === '2.0' && typeof e.rawPath === 'string' && typeof rc?.http?.method === 'string'
  },
  handle(event, context, rt) {
    // Payload 2.0 gives lowercase header names and joins repeated values with commas, as node
    // does: the headers are used as they are...
    let headers = (event.headers ?? {}) as Record<string, string>
    // ...but moves the Cookie header into `cookies`: put it back as the browser sent it.
    if (event.cookies !== undefined && event.cookies.length > 0) {
      const all: Record<string, string> = {}
      for (const name in headers) all[name] = headers[name]!
      all.cookie = event.cookies.join('; ')
      headers = all
    }
    const raw = event.rawQueryString
    return serve(
      rt,
      context,
      event.requestContext.http.method.toUpperCase(),
      v2Path(event),
      // The raw query string, parsed by the pipeline exactly as for the node:http fronts.
      raw === undefined || raw === '' ? undefined : raw,
      headers,
      event.body,
      event.isBase64Encoded === true,
    ).then(v2Answer)
  },
}

/** The payload 2.0 answer: repeated headers comma-joined, except Set-Cookie, which has `cookies`. */
function v2Answer(res: WebResponse) {
  const headers: Record<string, string> = {}
  let cookies: string[] | undefined
  for (const name in res.headers) {
    const value = res.headers[name]!
    if (name === 'set-cookie') cookies = typeof value === 'string' ? [value] : value
    else headers[name] = typeof value === 'string' ? value : value.join(',')
  }
  return cookies === undefined
    ? { statusCode: res.status, headers, body: res.body ?? '', isBase64Encoded: false }
    : { statusCode: res.status, headers, cookies, body: res.body ?? '', isBase64Encoded: false }
}

/**
 * Runs a request through the web pipeline, with the action's time limit capped by what Lambda
 * leaves. Express middleware cannot run here: the pipeline refuses such a route (500) rather
 * than answer without it, which could skip a check.
 */
function serve(
  rt: HandlerRuntime,
  context: LambdaContext | undefined,
  method: string,
  path: string,
  query: string | Record<string, unknown> | undefined,
  headers: Record<string, string>,
  body: string | null | undefined,
  base64: boolean,
): Promise<WebResponse> {
  const now = Date.now()
  const limit = budgetMs(lambdaDeadline(context, now, rt.settings.marginMs), now)
  // The pipeline answers every request (unmatched: 'answer', middleware: 'refuse'), never 'pass'.
  return Promise.resolve(
    rt.web.handle(new GatewayRequest(method, path, query, headers, body, base64, limit)) as
      | WebResponse
      | Promise<WebResponse>,
  )
}

/** Payload 1.0's query: the multi-value form when present (`?a=1&a=2` gives `a: ['1', '2']`), as express parses it. */
function v1Query(event: V1Event): Record<string, unknown> {
  // A null-prototype object, as node's querystring gives: no key reaches a prototype.
  const query: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  const multi = event.multiValueQueryStringParameters
  if (multi !== null && multi !== undefined) {
    for (const [k, v] of Object.entries(multi))
      if (v !== undefined && v.length > 0) query[k] = v.length === 1 ? v[0] : [...v]
    return query
  }
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) query[k] = v
  return query
}

/** Payload 1.0's headers, lowercased, repeated values joined as node joins them. */
function v1Headers(event: V1Event): Record<string, string> {
  const headers: Record<string, string> = {}
  const multi = event.multiValueHeaders
  if (multi !== null && multi !== undefined) {
    for (const [name, values] of Object.entries(multi)) {
      if (values === undefined || values.length === 0) continue
      const lower = name.toLowerCase()
      headers[lower] = values.join(lower === 'cookie' ? '; ' : ', ')
    }
    return headers
  }
  for (const [name, value] of Object.entries(event.headers ?? {}))
    if (value !== undefined) headers[name.toLowerCase()] = value
  return headers
}

/**
 * The route path of a payload 2.0 event. On an HTTP API stage other than `$default`, rawPath
 * begins with the stage name (`/prod/votes`), which is not part of the route.
 */
function v2Path(event: V2Event): string {
  const stage = event.requestContext.stage
  const path = event.rawPath
  if (stage !== undefined && stage !== '$default' && (path === `/${stage}` || path.startsWith(`/${stage}/`)))
    return path.slice(stage.length + 1) || '/'
  return path
}
