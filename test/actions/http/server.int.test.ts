import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import { expect } from 'chai'
import { StoaError } from '../../../actions/index.js'
import {
  errorHead,
  listenOn,
  probeResponse,
  readBody,
  sendResponse,
  serverCloser,
  toStoaError,
} from '../../../actions/transport.js'
import { rawRequest } from '../../helpers/http.js'
import { waitFor } from '../../helpers/wait.js'

/** A server on 127.0.0.1:0 whose handler the test gives; closed by its closer. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, graceMs?: number) {
  const server = createServer(handler)
  const url = `http://${await listenOn(server, 0, '127.0.0.1')}`
  return { url, server, closer: serverCloser(server, graceMs) }
}

describe('stoa/transport HTTP kit: the one close policy', function () {
  this.timeout(10000)

  it('refuses new connections at once, lets the answer in progress finish, then resolves', async () => {
    let release!: () => void
    const { url, closer } = await serve((_req, res) => {
      release = () => res.end('done')
    })
    const inflight = rawRequest(url, 'GET', '/slow')
    await waitFor(() => release !== undefined, 'the request to arrive')
    const closed = closer.close()
    expect(closer.stopping).to.equal(true)
    const refused = await rawRequest(url, 'GET', '/').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    )
    expect(refused).to.equal('ECONNREFUSED')
    release()
    expect((await inflight).text).to.equal('done')
    await closed
  })

  it('cuts an answer that never ends once the grace has passed', async () => {
    let arrived = false
    const { url, closer } = await serve(() => {
      arrived = true
    }, 50)
    const hung = rawRequest(url, 'GET', '/never').then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    )
    await waitFor(() => arrived, 'the request to arrive')
    await closer.close()
    expect(await hung).to.equal('ECONNRESET')
  })
})

describe('stoa/transport HTTP kit: the one body reader', function () {
  this.timeout(10000)
  let url: string
  let close: () => Promise<void>

  before(async () => {
    const s = await serve((req, res) => {
      readBody(req, 16).then(
        (raw) => sendResponse(res, { status: 200, headers: {}, body: `${raw.length}` }),
        (err: unknown) => {
          const e = toStoaError(err).toJSON()
          const { status, headers } = errorHead(e)
          sendResponse(res, { status, headers: { ...headers, connection: 'close' }, body: e.code })
        },
      )
    })
    url = s.url
    close = () => s.closer.close()
  })
  after(() => close())

  const json = { 'content-type': 'application/json' }
  const cases: [string, Parameters<typeof rawRequest>[3], number, string][] = [
    ['no body', {}, 200, '0'],
    ['a JSON body within the limit', { body: '{"a":1}', headers: json }, 200, '7'],
    [
      'a body that is not JSON, before reading it',
      { body: 'a=1', headers: { 'content-type': 'text/plain' } },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a declared length over the limit',
      { body: '{"pad":"xxxxxxxxxxxxxxxx"}', headers: json },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'a chunked body past the limit',
      { body: '{"pad":"xxxxxxxxxxxxxxxx"}', headers: json, chunked: true },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
  ]
  for (const [what, opts, status, text] of cases) {
    it(`answers ${what}: ${status}`, async () => {
      const res = await rawRequest(url, 'POST', '/', opts)
      expect(res.status).to.equal(status)
      expect(res.text).to.equal(text)
    })
  }
})

describe('stoa/transport HTTP kit: the one error head and probe answer', () => {
  it('names the scheme on 401, invalid_token when a token was given, Retry-After and Allow', () => {
    expect(errorHead({ code: 'UNAUTHENTICATED', details: { reason: 'missing' } })).to.deep.equal({
      status: 401,
      headers: { 'www-authenticate': 'Bearer' },
    })
    expect(errorHead({ code: 'UNAUTHENTICATED', details: { reason: 'expired' } }).headers).to.deep.equal({
      'www-authenticate': 'Bearer error="invalid_token"',
    })
    expect(errorHead({ code: 'OVERLOADED' })).to.deep.equal({ status: 503, headers: { 'retry-after': '1' } })
    expect(errorHead({ code: 'METHOD_NOT_ALLOWED', details: { allow: ['GET', 'HEAD'] } })).to.deep.equal({
      status: 405,
      headers: { allow: 'GET, HEAD' },
    })
    expect(errorHead(new StoaError('FORBIDDEN', 'no').toJSON())).to.deep.equal({ status: 403, headers: {} })
  })

  it('answers the probe paths only: 200 alive, 503 when readiness fails, 405 with Allow for another method', async () => {
    const failing = { readiness: () => Promise.reject(new Error('boom')) }
    expect(probeResponse(failing, 'GET', '/metrics')).to.equal(undefined)
    expect((await probeResponse(failing, 'GET', '/healthz'))!.status).to.equal(200)
    const ready = (await probeResponse(failing, 'GET', '/readyz'))!
    expect(ready.status).to.equal(503)
    expect(JSON.parse(ready.body!)).to.deep.equal({ ready: false, checks: [] })
    const wrong = (await probeResponse(failing, 'POST', '/readyz'))!
    expect(wrong.status).to.equal(405)
    expect(wrong.headers.allow).to.equal('GET, HEAD')
    expect(JSON.parse(wrong.body!).code).to.equal('METHOD_NOT_ALLOWED')
  })
})
