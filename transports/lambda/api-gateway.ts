import { parse as parseQuery } from 'node:querystring'
import { StoaError } from '../../actions/transport.js'
import type { WebResponse } from '../../plugins/web/index.js'
import { errorResponse, handleWebRequest, parseJsonBody, unmatchedResponse } from '../../plugins/web/index.js'
import type { EventProcessor, HandlerRuntime, LambdaContext } from './processor.js'
import { budgetMs, lambdaDeadline } from './processor.js'

/*
 * API Gateway REST APIs (payload 1.0), HTTP APIs (payload 2.0) and Lambda function URLs (2.0
 * as well), served from the same route table as express, through the web plugin's public
 * entry: `role:web,cmd:routes` for the table, `handleWebRequest` to run a route. What differs
 * between the three is only how the request and the answer are spelled.
 *
 * The shapes: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */

/** An HTTP request read off an event, before routing. */
interface HttpEvent {
  method: string
  path: string
  query: Record<string, unknown>
  headers: Record<string, string>
  body: string | null | undefined
  base64: boolean
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
    return serve(rt, context, {
      method: event.httpMethod.toUpperCase(),
      path: event.path,
      query: v1Query(event),
      headers: v1Headers(event),
      body: event.body,
      base64: event.isBase64Encoded === true,
    }).then(v1Answer)
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
    return serve(rt, context, {
      method: event.requestContext.http.method.toUpperCase(),
      path: v2Path(event),
      // The raw query string, parsed exactly as the express front end parses it.
      query: raw === undefined || raw === '' ? {} : parseQuery(raw),
      headers,
      body: event.body,
      base64: event.isBase64Encoded === true,
    }).then(v2Answer)
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
 * Routes a request and runs it, as the express front end does: the same matcher, the same body
 * checks (415, 413, 400) in the same order, and `handleWebRequest` for the rest. Express-only
 * parts of a seneca-web route have no equivalent here and are refused rather than skipped.
 */
function serve(rt: HandlerRuntime, context: LambdaContext | undefined, req: HttpEvent): Promise<WebResponse> {
  const now = Date.now()
  let match: ReturnType<HandlerRuntime['findRoute']>
  try {
    match = rt.findRoute(req.method, req.path)
  } catch (err) {
    return Promise.resolve(errorResponse(err))
  }
  // As serveWeb answers: 405 with Allow for a known path and another method, OPTIONS 204, else 404.
  if (match === undefined) return Promise.resolve(unmatchedResponse(rt.findRoute, req.method, req.path))
  const { route, params } = match
  if (route.middleware !== undefined && route.middleware.length > 0) {
    // Express middleware (authentication, often) cannot run here: answering without it could
    // skip a check, so the route fails instead.
    return Promise.resolve(
      errorResponse(
        new StoaError(
          'ACTION_FAILED',
          `route ${route.method} ${route.path} runs express middleware, which does not run on Lambda`,
        ),
      ),
    )
  }
  if (route.secure !== undefined) {
    // seneca-web's secure routes need req.user, set by express middleware: never there on Lambda.
    return Promise.resolve(
      route.secure.fail !== undefined
        ? found(route.secure.fail)
        : errorResponse(new StoaError('UNAUTHENTICATED', 'this route needs a signed-in user')),
    )
  }
  let body: Record<string, unknown> | undefined
  if (req.body !== undefined && req.body !== null && req.body !== '') {
    try {
      body = parseJsonBody(
        req.headers['content-type'],
        req.base64 ? Buffer.from(req.body, 'base64') : req.body,
        route.maxBodyBytes,
      )
    } catch (err) {
      return Promise.resolve(errorResponse(err))
    }
  }
  // The action's time limit: the route's own, never past what Lambda leaves. The route is
  // shared and frozen: a copy carries the call's limit (a copy rather than an object on top
  // of it: handleWebRequest reads every field, and own fields read faster).
  const budget = budgetMs(lambdaDeadline(context, now, rt.settings.marginMs), now)
  const served =
    budget === undefined || (route.timeoutMs !== undefined && route.timeoutMs <= budget)
      ? route
      : { ...route, timeoutMs: budget }
  const answer = handleWebRequest(rt.stoa, served, { params, query: req.query, body, headers: req.headers })
  if (route.redirect === undefined && req.method !== 'HEAD') return answer
  return answer.then((res) => {
    if (route.redirect !== undefined && res.status < 300) return found(route.redirect)
    // A HEAD answer has the GET answer's headers and no body, as node's server sends it.
    return req.method === 'HEAD' ? { ...res, body: undefined } : res
  })
}

function found(location: string): WebResponse {
  return { status: 302, headers: { location, 'content-length': '0' }, body: undefined }
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
