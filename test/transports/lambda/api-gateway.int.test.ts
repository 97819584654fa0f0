import { expect } from 'chai'
import type { WebServer } from '../../../plugins/web/index.js'
import { serveWeb } from '../../../plugins/web/index.js'
import type { LambdaHandler } from '../../../transports/lambda/index.js'
import { lambdaHandler } from '../../../transports/lambda/index.js'
import type { HttpCase } from '../../fixtures/lambda/events.js'
import { apigwV1Event, apigwV2Event, lambdaContext } from '../../fixtures/lambda/events.js'
import service from '../../fixtures/lambda/service.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

/** What a client can tell of an answer: the status, the headers stoa and the action set, the body. */
interface Seen {
  status: number
  headers: Record<string, string | string[]>
  body: unknown
}

/** The headers compared: what stoa and actions set (framing, date and connection are the server's). */
const COMPARED = ['content-type', 'location', 'x-request-id', 'x-extra', 'set-cookie']

function pick(
  headers: Record<string, string | string[] | undefined>,
  cookies?: string[],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name of COMPARED) {
    const v = headers[name]
    if (v !== undefined) out[name] = v
  }
  if (cookies !== undefined) out['set-cookie'] = cookies
  return out
}

function parsed(text: string): unknown {
  return text === '' ? '' : JSON.parse(text)
}

/**
 * One request, written once, sent to express over HTTP and given to the handler as API
 * Gateway REST (1.0) and HTTP API (2.0) events: all three answers must agree.
 */
const cases: (HttpCase & { name: string; expect: number; view?: (body: any) => unknown })[] = [
  { name: 'a GET with a query', method: 'GET', url: '/sum?left=1&right=2', expect: 200 },
  { name: 'a query the schema refuses', method: 'GET', url: '/sum?left=x&right=2', expect: 400 },
  {
    name: 'a POST with a JSON body and path parameter, on a 202 route',
    method: 'POST',
    url: '/votes/7',
    headers: { 'content-type': 'application/json' },
    body: '{"choice":"a"}',
    expect: 202,
  },
  {
    name: 'a base64-encoded body',
    method: 'POST',
    url: '/votes/8',
    headers: { 'content-type': 'application/json' },
    body: '{"choice":"b"}',
    base64: true,
    expect: 202,
  },
  {
    name: 'malformed JSON',
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'application/json' },
    body: '{nope',
    expect: 400,
  },
  {
    name: 'a body that is not JSON',
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'text/plain' },
    body: 'hi',
    expect: 415,
  },
  {
    name: 'a body over maxBodyBytes',
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pad: 'x'.repeat(2000) }),
    expect: 413,
  },
  {
    name: 'a JSON body that is not an object',
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'application/json' },
    body: '[1,2]',
    expect: 400,
  },
  { name: 'a path no route has', method: 'GET', url: '/nowhere', expect: 404 },
  { name: 'a stoa error with details', method: 'GET', url: '/deny', expect: 403 },
  { name: 'a plain crash, without its message', method: 'GET', url: '/crash', expect: 500 },
  {
    name: 'an action asking for 201, a location, two cookies and a header',
    method: 'POST',
    url: '/create',
    headers: { 'content-type': 'application/json' },
    body: '{"name":"n"}',
    expect: 201,
  },
  { name: 'an action returning nothing', method: 'GET', url: '/none', expect: 204 },
  {
    name: 'an encoded path parameter and a repeated query parameter',
    method: 'GET',
    url: '/echo/a%20b?tag=x&tag=y&one=1',
    expect: 200,
  },
  {
    name: 'the token, request id and chosen headers, cookies included',
    method: 'GET',
    url: '/whoami',
    headers: {
      authorization: 'Bearer tok.en.jwt',
      'x-request-id': 'req-42',
      cookie: 'sid=1; theme=dark',
      'user-agent': 'ua/1',
    },
    expect: 200,
    // The time left differs between runs; everything else must match.
    view: (b: Record<string, unknown>) => ({ ...b, remainingMs: typeof b.remainingMs }),
  },
  {
    name: 'an Authorization header that is not Bearer',
    method: 'GET',
    url: '/whoami',
    headers: { authorization: 'Basic abc' },
    expect: 401,
  },
  { name: 'HEAD on a GET route', method: 'HEAD', url: '/sum?left=1&right=2', expect: 200 },
  { name: 'another case and a trailing slash', method: 'GET', url: '/SUM/?left=2&right=2', expect: 200 },
]

describe('transports/lambda: one route table on express and API Gateway', () => {
  let server: WebServer
  let handler: LambdaHandler
  const closers: (() => Promise<void>)[] = []
  before(async () => {
    const web = service.create({ logger: quietLogger() })
    server = await serveWeb(web)
    closers.push(
      () => server.close(),
      () => web.close(),
    )
    handler = lambdaHandler(service.create({ logger: quietLogger() }))
    closers.push(() => handler.stoa.close())
    await handler.ready()
  })
  after(async () => {
    for (const close of closers.reverse()) await close()
  })

  async function viaExpress(c: HttpCase): Promise<Seen> {
    const res = await rawRequest(server.url, c.method, c.url, {
      headers: c.headers ?? {},
      ...(c.body === undefined ? {} : { body: c.body }),
    })
    return { status: res.status, headers: pick(res.headers), body: parsed(res.text) }
  }

  async function viaV1(c: HttpCase): Promise<Seen> {
    const out = (await handler(apigwV1Event(c), lambdaContext())) as {
      statusCode: number
      headers: Record<string, string>
      multiValueHeaders?: Record<string, string[]>
      body: string
      isBase64Encoded: boolean
    }
    expect(out.isBase64Encoded).to.equal(false)
    return {
      status: out.statusCode,
      headers: pick({ ...out.headers, ...out.multiValueHeaders }),
      body: parsed(out.body),
    }
  }

  async function viaV2(c: HttpCase): Promise<Seen> {
    const out = (await handler(apigwV2Event(c), lambdaContext())) as {
      statusCode: number
      headers: Record<string, string>
      cookies?: string[]
      body: string
      isBase64Encoded: boolean
    }
    expect(out.isBase64Encoded).to.equal(false)
    return { status: out.statusCode, headers: pick(out.headers, out.cookies), body: parsed(out.body) }
  }

  for (const c of cases) {
    it(`answers ${c.name} alike (${c.method} ${c.url} -> ${c.expect})`, async () => {
      const view = (s: Seen): Seen =>
        c.view === undefined || typeof s.body !== 'object' ? s : { ...s, body: c.view(s.body) }
      const express = view(await viaExpress(c))
      expect(express.status, 'express').to.equal(c.expect)
      expect(view(await viaV1(c)), 'API Gateway REST API (payload 1.0)').to.deep.equal(express)
      expect(view(await viaV2(c)), 'API Gateway HTTP API (payload 2.0)').to.deep.equal(express)
    })
  }

  it('takes the stage off the path of an HTTP API event on a named stage', async () => {
    const event = apigwV2Event({ method: 'GET', url: '/prod/sum?left=1&right=1' })
    event.requestContext.stage = 'prod'
    const out = (await handler(event, lambdaContext())) as { statusCode: number; body: string }
    expect(out.statusCode).to.equal(200)
    expect(JSON.parse(out.body)).to.deep.equal({ answer: 2 })
  })

  it("serves AWS's unchanged sample events as requests no route takes", async () => {
    const { samples } = await import('../../fixtures/lambda/events.js')
    for (const event of [samples.apigwV1(), samples.apigwV2()]) {
      const out = (await handler(event, lambdaContext())) as { statusCode: number; body: string }
      expect(out.statusCode).to.equal(404)
      expect(JSON.parse(out.body).error.code).to.equal('NOT_FOUND')
    }
  })
})
