import { createRequire } from 'node:module'
import { z } from 'zod'
import type { ErrorCode, Stoa } from '../../../actions/index.js'
import { action, createStoa, ERROR_CODES, ERRORS, StoaError } from '../../../actions/index.js'
import web from '../../../plugins/web/index.js'
import { quietLogger } from '../../helpers/wait.js'

/*
 * Every web case, as a table that test/plugins/web/paths.int.test.ts runs against each way of
 * serving stoa's routes (mountWeb inside express, serveWeb on node:http, serveWeb through an
 * express app), comparing what they answer.
 */

const require = createRequire(import.meta.url)
/** The seneca-web fixture: a plugin written for seneca-web, its route maps and named middleware. */
export const votes = require('../../fixtures/seneca-web-votes.cjs')

/** One request and what it must get. */
export interface WebCase {
  readonly name: string
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly headers?: Record<string, string>
  /** Send the body chunked, with no content-length. */
  readonly chunked?: boolean
  readonly status: number
  /** The parsed body, when a case states it (every path is also compared with the others). */
  readonly json?: unknown
  /** What `mountWeb` in an app answers instead, where by design it leaves the request to the app (then a 404). */
  readonly mount?: number
}

/** Response headers whose values must be the same on every path. */
export const COMPARED_HEADERS = [
  'content-type',
  'content-length',
  'location',
  'set-cookie',
  'cache-control',
  'x-request-id',
  'allow',
  'connection',
] as const

/**
 * A stoa instance with the actions and routes every case uses: compact routes, a seneca-web
 * map with the flat message, http$ answers, and the seneca-web fixture with its own message.
 */
export function caseStoa(): Stoa<any> {
  const stoa = createStoa({ name: 'cases', logger: quietLogger() })
  stoa.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
  stoa.add('role:ballot,cmd:cast', (m) => ({ accepted: true, id: m.id, role: m.role, choice: m.choice }))
  stoa.add(
    'role:ballot,cmd:typed',
    action({ schema: z.object({ left: z.number() }), handler: (m) => ({ left: m.left }) }),
  )
  stoa.add('role:test,cmd:ctx', (_m, ctx) => ({
    token: ctx.token ?? null,
    id: ctx.id,
    caller: ctx.caller,
    headers: ctx.headers,
  }))
  stoa.add('role:test,cmd:fail', (m) => {
    throw new StoaError(m.code as ErrorCode, `failed with ${String(m.code)}`, { n: 1 })
  })
  stoa.add('role:test,cmd:crash', () => {
    throw new Error('secret postgres://u:p@db')
  })
  stoa.add('role:test,cmd:nothing', () => undefined)
  stoa.add('role:test,cmd:slow', () => new Promise((r) => setTimeout(() => r('late'), 1000)))
  stoa.add('role:test,cmd:echo', (m) => ({
    keys: Object.keys(m).sort(),
    protoIsObject: Object.getPrototypeOf(m) === Object.prototype,
  }))
  stoa.add('role:reply,cmd:create', (m) => ({
    id: m.id,
    http$: { status: 201, headers: { location: `/created/${String(m.id)}` } },
  }))
  stoa.add('role:reply,cmd:moved', () => ({ http$: { status: 303, headers: { location: '/elsewhere' } } }))
  stoa.add('role:reply,cmd:cookie', () => ({
    http$: { headers: { 'set-cookie': ['a=1', 'b=2'], 'cache-control': 'no-store' } },
  }))
  stoa.add('role:reply,cmd:bad', (m) => ({ ok: true, http$: JSON.parse(String(m.reply)) }))
  stoa.add('role:reply,cmd:bigint', () => ({ n: 1n }))
  stoa.use(votes)
  stoa.use(web, {
    routes: {
      'GET /sum': 'role:math,cmd:sum',
      'POST /ballots/:id': { pattern: 'role:ballot,cmd:cast', status: 202 },
      'POST /typed': 'role:ballot,cmd:typed',
      'GET /ctx': 'role:test,cmd:ctx',
      'GET /fail/:code': 'role:test,cmd:fail',
      'GET /crash': 'role:test,cmd:crash',
      'DELETE /nothing': 'role:test,cmd:nothing',
      'PUT /nothing': { pattern: 'role:test,cmd:nothing', status: 202 },
      'POST /echo': 'role:test,cmd:echo',
      'POST /created/:id': { pattern: 'role:reply,cmd:create', status: 202 },
      'GET /moved': 'role:reply,cmd:moved',
      'GET /cookie': 'role:reply,cmd:cookie',
      'GET /bad': 'role:reply,cmd:bad',
      'GET /bigint': 'role:reply,cmd:bigint',
    },
    headers: ['x-tenant'],
    maxBodyBytes: 1024,
  })
  stoa.use(
    web,
    { routes: { pin: 'role:math,cmd:*', prefix: '/seneca', map: { sum: { GET: true, POST: true } } } },
    { tag: 'legacy' },
  )
  stoa.use(web, { routes: { 'GET /slow': 'role:test,cmd:slow' }, timeoutMs: 100 }, { tag: 'slow' })
  stoa.use(
    web,
    {
      routes: [
        votes.routes,
        votes.guarded,
        { pin: 'role:votes,cmd:*', prefix: '/locked', map: { mine: { GET: true, secure: true } } },
      ],
      message: 'seneca-web',
    },
    { tag: 'votes' },
  )
  return stoa
}

const json = { 'content-type': 'application/json' }
const big = JSON.stringify({ pad: 'x'.repeat(2000) })

/** The cases. */
export const webCases: readonly WebCase[] = [
  // routes and matching
  { name: 'a GET route from the query', method: 'GET', path: '/sum?left=1&right=2', status: 200, json: { answer: 3 } },
  {
    name: 'a path in another case, with a trailing slash',
    method: 'GET',
    path: '/SUM/?left=1&right=2',
    status: 200,
    json: { answer: 3 },
  },
  { name: 'HEAD answered by the GET route, without a body', method: 'HEAD', path: '/sum?left=1&right=2', status: 200 },
  {
    name: 'a seneca-web map with the flat message, GET',
    method: 'GET',
    path: '/seneca/sum?left=2&right=3',
    status: 200,
    json: { answer: 5 },
  },
  {
    name: 'a seneca-web map with the flat message, POST',
    method: 'POST',
    path: '/seneca/sum',
    body: '{"left":4,"right":5}',
    headers: json,
    status: 200,
    json: { answer: 9 },
  },
  { name: 'an unknown path', method: 'GET', path: '/nowhere', status: 404 },
  { name: 'OPTIONS on an unknown path', method: 'OPTIONS', path: '/nowhere', status: 404 },
  // message precedence
  {
    name: "the route's status; path params over body over query",
    method: 'POST',
    path: '/ballots/7?choice=q&id=q',
    body: '{"choice":"a","id":"body"}',
    headers: json,
    status: 202,
    json: { accepted: true, id: '7', role: 'ballot', choice: 'a' },
  },
  {
    name: 'path params over the body, with no query',
    method: 'POST',
    path: '/ballots/7',
    body: '{"choice":"a","id":"body"}',
    headers: json,
    status: 202,
    json: { accepted: true, id: '7', role: 'ballot', choice: 'a' },
  },
  {
    name: "the pattern's own keys over body and query",
    method: 'POST',
    path: '/ballots/1?role=math&cmd=sum',
    body: '{"role":"math","cmd":"sum","left":1,"right":2}',
    headers: json,
    status: 202,
    json: { accepted: true, id: '1', role: 'ballot' },
  },
  {
    name: 'a decoded path parameter',
    method: 'POST',
    path: '/ballots/a%2Fb',
    body: '{}',
    headers: json,
    status: 202,
    json: { accepted: true, id: 'a/b', role: 'ballot' },
  },
  {
    name: 'a path parameter that is not percent-encoding',
    method: 'POST',
    path: '/ballots/%E0%A4%A',
    body: '{}',
    headers: json,
    status: 400,
  },
  // the context
  {
    name: 'the bearer token, request id and selected headers in ctx, the id echoed',
    method: 'GET',
    path: '/ctx',
    headers: { authorization: 'Bearer aa.bb.cc', 'x-request-id': 'req-123', 'x-tenant': 't1', 'x-secret': 'no' },
    status: 200,
    json: { token: 'aa.bb.cc', id: 'req-123', caller: 'http', headers: { 'x-tenant': 't1' } },
  },
  {
    name: 'an Authorization header that is not a bearer token',
    method: 'GET',
    path: '/sum?left=1&right=1',
    headers: { authorization: 'Basic dTpw' },
    status: 401,
  },
  // statuses
  ...ERROR_CODES.map(
    (code): WebCase => ({
      name: `the error ${code}`,
      method: 'GET',
      path: `/fail/${code}`,
      status: ERRORS[code].http,
      json: { error: { code, message: `failed with ${code}`, details: { n: 1 } } },
    }),
  ),
  { name: 'a schema failure', method: 'POST', path: '/typed', body: '{"left":"one"}', headers: json, status: 400 },
  {
    name: 'a plain thrown error',
    method: 'GET',
    path: '/crash',
    status: 500,
    json: { error: { code: 'ACTION_FAILED', message: 'action "cmd:crash,role:test" failed' } },
  },
  { name: 'an action past the route time limit', method: 'GET', path: '/slow', status: 504 },
  { name: 'an action that returns nothing', method: 'DELETE', path: '/nothing', status: 204 },
  {
    name: 'an action that returns nothing, on a route with its own status',
    method: 'PUT',
    path: '/nothing',
    status: 202,
  },
  // bad input
  { name: 'malformed JSON', method: 'POST', path: '/echo', body: '{"a":', headers: json, status: 400 },
  {
    name: 'a JSON body that is not an object',
    method: 'POST',
    path: '/echo',
    body: '[1,2]',
    headers: json,
    status: 400,
  },
  {
    name: 'a body over the limit by its declared length',
    method: 'POST',
    path: '/echo',
    body: big,
    headers: json,
    status: 413,
  },
  {
    name: 'a chunked body over the limit',
    method: 'POST',
    path: '/echo',
    body: big,
    chunked: true,
    headers: json,
    status: 413,
  },
  {
    name: 'a body that is not JSON',
    method: 'POST',
    path: '/echo',
    body: 'a=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
  },
  { name: 'a body without a content type', method: 'POST', path: '/echo', body: '{"a":1}', status: 415 },
  {
    name: 'prototype-polluting keys',
    method: 'POST',
    path: '/echo?__proto__[polluted]=1&constructor[prototype][polluted]=1',
    body: '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ok":1}',
    headers: json,
    status: 200,
  },
  {
    name: 'prototype-polluting keys in a body with no query',
    method: 'POST',
    path: '/echo',
    body: '{"__proto__":{"polluted":true},"ok":1}',
    headers: json,
    status: 200,
    json: { keys: ['__proto__', 'cmd', 'ok', 'role'], protoIsObject: true },
  },
  // http$
  {
    name: "http$ status and headers over the route's",
    method: 'POST',
    path: '/created/7',
    body: '{}',
    headers: { ...json, 'x-request-id': 'r-1' },
    status: 201,
    json: { id: '7' },
  },
  { name: 'an http$ redirect with no body', method: 'GET', path: '/moved', status: 303 },
  { name: 'http$ headers only: 204 with them', method: 'GET', path: '/cookie', status: 204 },
  ...[
    { status: 500 },
    { status: '201' },
    { headers: { 'Content-Length': '1' } },
    { headers: { location: '/a\r\nset-cookie: x=1' } },
    { headers: { 'bad name': 'x' } },
    { redirect: '/x' },
    'created',
  ].map(
    (reply): WebCase => ({
      name: `a bad http$ ${JSON.stringify(reply)}`,
      method: 'GET',
      path: `/bad?reply=${encodeURIComponent(JSON.stringify(reply))}`,
      status: 500,
    }),
  ),
  { name: 'a result JSON cannot hold', method: 'GET', path: '/bigint', status: 500 },
  // seneca-web maps with seneca-web's message, middleware, secure and redirect
  {
    name: 'seneca-web: GET with params and query',
    method: 'GET',
    path: '/votes/7?q=x',
    status: 200,
    json: { id: '7', q: 'x', path: '/votes/:id' },
  },
  {
    name: 'seneca-web: POST with a JSON body',
    method: 'POST',
    path: '/api/cast/7?voter=v1',
    body: '{"choice":"a"}',
    headers: json,
    status: 200,
    json: { id: '7', choice: 'a', voter: 'v1', user: null },
  },
  { name: 'seneca-web: secure without a user, to its fail page', method: 'GET', path: '/secure/mine', status: 302 },
  {
    name: 'seneca-web: secure with the user middleware signed in',
    method: 'GET',
    path: '/secure/mine',
    headers: { 'x-user': 'u1' },
    status: 200,
    json: { user: { id: 'u1' } },
  },
  {
    name: 'seneca-web: redirect after the action',
    method: 'POST',
    path: '/secure/cast?voter=v2',
    body: '{"choice":"b"}',
    headers: { ...json, 'x-user': 'u2' },
    status: 302,
  },
  {
    name: 'seneca-web: a route middleware that answers first',
    method: 'POST',
    path: '/secure/cast',
    body: '{}',
    headers: { ...json, 'x-user': 'u2', 'x-block': '1' },
    status: 403,
    json: { blocked: true },
  },
  {
    name: 'seneca-web: middleware given as one function',
    method: 'GET',
    path: '/secure/get?q=z',
    headers: { 'x-block': '1' },
    status: 403,
  },
  {
    name: 'seneca-web: middleware before secure, no user',
    method: 'POST',
    path: '/secure/cast',
    body: '{}',
    headers: json,
    status: 302,
  },
  { name: 'seneca-web: secure: true with no middleware, no user', method: 'GET', path: '/locked/mine', status: 401 },
  // the wrong method on a known path: serveWeb answers; mountWeb leaves it to the app
  { name: 'OPTIONS on a GET route', method: 'OPTIONS', path: '/sum', status: 204, mount: 404 },
  { name: 'the wrong method on a GET route', method: 'DELETE', path: '/sum?left=1', status: 405, mount: 404 },
  {
    name: 'the wrong method on a route with parameters',
    method: 'PATCH',
    path: '/ballots/7',
    body: '{}',
    headers: json,
    status: 405,
    mount: 404,
  },
  { name: 'the wrong method on a path with two routes', method: 'POST', path: '/nothing', status: 405, mount: 404 },
]
