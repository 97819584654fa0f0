import { expect } from 'chai'
import express from 'express'
import fc from 'fast-check'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { ServeWebOptions, WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'
import { exchange, garbage, parseAnswer, problem, request, serialize } from '../../transports/http/http-fuzz.js'

/*
 * Property tests of serveWeb on random requests (issue 19, item 10), on node:http alone and
 * through an express app: every answer is well formed (a status, and for a failure
 * `{ error: { code, message } }` with a code from the table that gives that status), nothing
 * hangs, and the server keeps answering. fast-check prints the seed and the shrunk request.
 */

const MAX_BODY = 256

const ROUTES: [string, string][] = [
  ['GET', '/sum?left=1&right=2'],
  ['POST', '/echo'],
  ['GET', '/items/a1'],
  ['PUT', '/items/a1'],
  ['POST', '/throw'],
  ['GET', '/slow'],
  ['POST', '/big'],
  ['DELETE', '/forbidden'],
]

const messages = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })

function fuzzStoa(): Stoa<any> {
  const stoa = createStoa({ name: 'fuzz', logger: quietLogger(), timeoutMs: 50 })
  stoa.add('role:fuzz,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
  stoa.add('role:fuzz,cmd:echo', (m) => ({ ...m }))
  stoa.add('role:fuzz,cmd:item', (m) => ({ id: m.id }))
  stoa.add('role:fuzz,cmd:throw', () => {
    throw new Error('boom')
  })
  stoa.add('role:fuzz,cmd:slow', () => new Promise(() => undefined))
  stoa.add('role:fuzz,cmd:big', () => ({ n: 1n }))
  stoa.add('role:fuzz,cmd:forbidden', () => {
    throw new StoaError('FORBIDDEN', 'no')
  })
  stoa.use(web, {
    routes: {
      'GET /sum': 'role:fuzz,cmd:sum',
      'POST /echo': 'role:fuzz,cmd:echo',
      'GET /items/:id': 'role:fuzz,cmd:item',
      'PUT /items/:id': 'role:fuzz,cmd:item',
      'POST /throw': 'role:fuzz,cmd:throw',
      'GET /slow': 'role:fuzz,cmd:slow',
      'POST /big': 'role:fuzz,cmd:big',
      'DELETE /forbidden': 'role:fuzz,cmd:forbidden',
    },
    maxBodyBytes: MAX_BODY,
  })
  return stoa
}

describe('serveWeb properties', function () {
  this.timeout(30_000)
  const paths: [string, () => ServeWebOptions][] = [
    ['on node:http', () => ({})],
    [
      'through express',
      () => {
        const app = express()
        app.use((_req, _res, next) => next())
        return { app }
      },
    ],
  ]
  for (const [where, options] of paths) {
    describe(where, () => {
      let stoa: Stoa<any>
      let server: WebServer
      before(async () => {
        stoa = fuzzStoa()
        await stoa.ready()
        server = await serveWeb(stoa, options())
      })
      after(async () => {
        await server.close()
        await stoa.close()
      })

      async function alive(): Promise<void> {
        const out = await rawRequest(server.url, 'GET', '/sum?left=2&right=3')
        expect(out.status).to.equal(200)
        expect(out.json).to.deep.equal({ answer: 5 })
      }

      it('answers every request with a status and, on failure, a code from the table', async () => {
        await fc.assert(
          fc.asyncProperty(request(ROUTES, messages, MAX_BODY), async (r) => {
            const x = await exchange(server.url, serialize(r))
            const wrong = problem(r, x, (json) => (json as { error?: unknown } | null)?.error, new Set([200, 204]))
            expect(wrong, `${wrong} for ${serialize(r).toString('latin1').slice(0, 300)}`).to.equal(undefined)
          }),
          { numRuns: 200 },
        )
        await alive()
      })

      it('survives garbage bytes: an HTTP answer or a closed connection, never a hang', async () => {
        await fc.assert(
          fc.asyncProperty(garbage, async (bytes) => {
            const x = await exchange(server.url, bytes, true)
            expect(x.end, `hung on ${JSON.stringify(bytes.toString('latin1'))}`).to.not.equal('hung')
            if (x.raw !== '') expect(parseAnswer(x.raw), JSON.stringify(x.raw.slice(0, 200))).to.not.equal(undefined)
          }),
          { numRuns: 100 },
        )
        await alive()
      })
    })
  }
})
