import type { Server } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import express from 'express'
import type { Stoa } from '../../../actions/index.js'
import { StoaError } from '../../../actions/index.js'
import { errorResponse } from '../../../actions/transport.js'
import type { WebServer } from '../../../plugins/web/index.js'
import { mountWeb, serveWeb } from '../../../plugins/web/index.js'
import type { LambdaHandler } from '../../../transports/lambda/index.js'
import { lambdaHandler } from '../../../transports/lambda/index.js'
import { apigwV2Event, lambdaContext } from '../../fixtures/lambda/events.js'
import type { RawAnswer } from '../../helpers/http.js'
import { rawRequest } from '../../helpers/http.js'
import { COMPARED_HEADERS, caseStoa, votes, webCases } from './cases.js'

/*
 * The shared web table (cases.ts) against every way stoa serves its routes:
 * - `mount`: mountWeb in an express app of the user's, which answers what is left with a JSON 404;
 * - `serve`: serveWeb, its routes answered on node:http (those with seneca-web middleware
 *   inside express);
 * - `serve-express`: serveWeb given an app that already holds a middleware, so every request
 *   goes through express;
 * - `lambda`: the same routes as API Gateway HTTP API events (payload 2.0) to a Lambda handler.
 * Each case must get the same status, compared headers and body on every path; on Lambda, a
 * route with express middleware (under /secure) answers 500 instead, since it cannot run there,
 * and the connection is API Gateway's, not the function's.
 */
describe('web plugin: the same answers on every path', function () {
  this.timeout(15000)
  let stoa: Stoa<any>
  let mounted: Server
  let served: WebServer
  let throughExpress: WebServer
  let lambda: LambdaHandler
  const urls: Record<'mount' | 'serve' | 'serve-express', string> = { mount: '', serve: '', 'serve-express': '' }
  let passedThrough = 0

  before(async () => {
    stoa = caseStoa()
    const app = express()
    app.disable('x-powered-by')
    await mountWeb(stoa, app, { middleware: votes.middleware })
    app.use((req, res) => {
      const answer = errorResponse(new StoaError('NOT_FOUND', `no route for ${req.method} on this path`))
      res.writeHead(answer.status, answer.headers).end(answer.body)
    })
    mounted = createServer(app)
    await new Promise<void>((resolve) => mounted.listen(0, '127.0.0.1', resolve))
    urls.mount = `http://127.0.0.1:${(mounted.address() as AddressInfo).port}`
    served = await serveWeb(stoa, { middleware: votes.middleware })
    urls.serve = served.url
    const own = express()
    own.use((_req, _res, next) => {
      passedThrough++
      next()
    })
    throughExpress = await serveWeb(stoa, { app: own, middleware: votes.middleware })
    urls['serve-express'] = throughExpress.url
    lambda = lambdaHandler(caseStoa())
    await lambda.ready()
  })

  after(async () => {
    await served?.close()
    await throughExpress?.close()
    await lambda?.stoa.close()
    await new Promise<void>((resolve) => (mounted ? mounted.close(() => resolve()) : resolve()))
    mounted?.closeAllConnections()
    await stoa?.close()
  })

  const compared = (a: RawAnswer) => ({
    status: a.status,
    headers: Object.fromEntries(COMPARED_HEADERS.map((h) => [h, a.headers[h]])),
    body: a.text,
  })

  const viaLambda = async (c: (typeof webCases)[number]) => {
    const event = apigwV2Event({
      method: c.method,
      url: c.path,
      ...(c.headers === undefined ? {} : { headers: c.headers }),
      ...(c.body === undefined ? {} : { body: c.body }),
    })
    const out = (await lambda(event, lambdaContext())) as {
      statusCode: number
      headers: Record<string, string>
      cookies?: string[]
      body: string
    }
    const headers: Record<string, string | string[]> = { ...out.headers }
    if (out.cookies !== undefined) headers['set-cookie'] = out.cookies
    return { status: out.statusCode, headers, text: out.body }
  }
  const onLambda = (a: { status: number; headers: Record<string, string | string[] | undefined>; text: string }) => ({
    status: a.status,
    headers: Object.fromEntries(COMPARED_HEADERS.filter((h) => h !== 'connection').map((h) => [h, a.headers[h]])),
    body: a.text,
  })

  for (const c of webCases) {
    it(`${c.method} ${c.path.length > 60 ? `${c.path.slice(0, 60)}…` : c.path}: ${c.name}`, async () => {
      const opts = {
        ...(c.body === undefined ? {} : { body: c.body }),
        ...(c.headers === undefined ? {} : { headers: c.headers }),
        ...(c.chunked ? { chunked: true } : {}),
      }
      const passed = passedThrough
      const answers = {
        mount: await rawRequest(urls.mount, c.method, c.path, opts),
        serve: await rawRequest(urls.serve, c.method, c.path, opts),
        'serve-express': await rawRequest(urls['serve-express'], c.method, c.path, opts),
      }
      expect(passedThrough, 'the app middleware ran').to.equal(passed + 1)
      expect(answers.serve.status, 'serveWeb').to.equal(c.status)
      if (c.json !== undefined) expect(answers.serve.json).to.deep.include(c.json as object)
      if (c.status === 204 || c.method === 'HEAD') expect(answers.serve.text).to.equal('')
      expect(compared(answers['serve-express']), 'serveWeb through express').to.deep.equal(compared(answers.serve))
      if (c.mount === undefined) expect(compared(answers.mount), 'mountWeb').to.deep.equal(compared(answers.serve))
      else expect(answers.mount.status, 'mountWeb leaves it to the app').to.equal(c.mount)
      const onApiGateway = await viaLambda(c)
      if (c.path.startsWith('/secure/')) expect(onApiGateway.status, 'Lambda refuses express middleware').to.equal(500)
      else expect(onLambda(onApiGateway), 'API Gateway').to.deep.equal(onLambda(answers.serve))
    })
  }
})
