import { createStoa } from '../../../actions/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'

/*
 * Compile-time checks of the web plugin's options, run by `tsc --noEmit` (the lines marked
 * @ts-expect-error must fail to compile) and, harmlessly, by mocha.
 */
describe('web plugin option types', () => {
  it('accepts both route map formats and rejects malformed ones at compile time', () => {
    const stoa = createStoa()
    stoa.use(web, {
      routes: { 'GET /sum': 'role:math,cmd:sum', 'POST /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 } },
    })
    stoa.use(
      web,
      { routes: { pin: 'role:todo,cmd:*', map: { list: true, create: { POST: true, status: 201 } } } },
      { tag: 'a' },
    )
    stoa.use(web, undefined, { tag: 'b' })
    if (Math.random() > 2) {
      // @ts-expect-error a route target is a pattern string or { pattern, status }
      stoa.use(web, { routes: { 'GET /sum': 42 } }, { tag: 'c' })
      // @ts-expect-error maxBodyBytes is a number
      stoa.use(web, { maxBodyBytes: '1mb' }, { tag: 'd' })
      // @ts-expect-error unknown options are refused
      stoa.use(web, { rotues: {} }, { tag: 'e' })
    }
  })

  it('takes node-style middleware for serveWeb before, and nothing else', () => {
    const stoa = createStoa()
    if (Math.random() > 2) {
      void serveWeb(stoa, {
        before: [
          (req, res, next) => {
            res.setHeader('x-url', req.url ?? '')
            next()
          },
        ],
      })
      // @ts-expect-error before holds middleware functions, not names
      void serveWeb(stoa, { before: ['cors'] })
      // @ts-expect-error a middleware gets (req, res, next), and next takes at most an error
      void serveWeb(stoa, { before: [(_req, _res, next) => next(1, 2)] })
    }
  })
})
