import { expect } from 'chai'
import { StoaError } from '../../../actions/index.js'
import { toRouteTable } from '../../../plugins/web/route-map.js'

describe('web route maps', () => {
  it('reads the compact form, with a status where a route asks for one', () => {
    const table = toRouteTable({
      'GET /sum': 'role:math,cmd:sum',
      'post /votes/:id': { pattern: 'role:vote,cmd:cast', status: 202 },
    })
    expect(table).to.deep.equal([
      { method: 'GET', path: '/sum', pattern: 'cmd:sum,role:math', status: 200 },
      { method: 'POST', path: '/votes/:id', pattern: 'cmd:cast,role:vote', status: 202 },
    ])
  })

  it("reads seneca-web's format: pin with :*, prefix, postfix, suffix, alias, name and methods", () => {
    const table = toRouteTable({
      pin: 'role:todo,cmd:*',
      prefix: '/api',
      postfix: '/v1',
      map: {
        list: true,
        create: { POST: true, status: 201 },
        edit: { GET: true, PUT: true, suffix: '/:id' },
        find: { GET: true, alias: '/lookup/:name' },
        drop: { DELETE: true, name: 'remove' },
        hidden: false,
      },
    })
    expect(table).to.deep.equal([
      { method: 'GET', path: '/api/list/v1', pattern: 'cmd:list,role:todo', status: 200 },
      { method: 'POST', path: '/api/create/v1', pattern: 'cmd:create,role:todo', status: 201 },
      { method: 'GET', path: '/api/edit/v1/:id', pattern: 'cmd:edit,role:todo', status: 200 },
      { method: 'PUT', path: '/api/edit/v1/:id', pattern: 'cmd:edit,role:todo', status: 200 },
      { method: 'GET', path: '/lookup/:name', pattern: 'cmd:find,role:todo', status: 200 },
      { method: 'DELETE', path: '/api/remove/v1', pattern: 'cmd:drop,role:todo', status: 200 },
    ])
  })

  it('keeps a pin without :* as the pattern of every entry', () => {
    const table = toRouteTable({ pin: 'role:math,cmd:sum', map: { sum: true, add: { POST: true } } })
    expect(table.map((r) => [r.method, r.path, r.pattern])).to.deep.equal([
      ['GET', '/sum', 'cmd:sum,role:math'],
      ['POST', '/add', 'cmd:sum,role:math'],
    ])
  })

  it('merges a list of maps of both formats and puts the prefix in front of every path', () => {
    const table = toRouteTable([{ 'GET /a': 'role:x,cmd:a' }, { pin: 'role:y,cmd:*', map: { b: true } }], '/api')
    expect(table.map((r) => `${r.method} ${r.path}`)).to.deep.equal(['GET /api/a', 'GET /api/b'])
  })

  for (const [what, map] of [
    ['a key without a path', { GET: 'role:x' }],
    ['an unknown method', { 'FETCH /x': 'role:x' }],
    ['a malformed pattern', { 'GET /x': 'role:' }],
    ['a forbidden pattern key', { 'GET /x': '__proto__:1' }],
    ['the same method and path twice', [{ 'GET /x': 'role:a' }, { 'GET /x': 'role:b' }]],
  ] as const) {
    it(`refuses ${what} with INVALID_OPTIONS naming the route`, () => {
      const err = (() => {
        try {
          toRouteTable(map as never)
        } catch (e) {
          return e
        }
      })()
      expect(err).to.be.instanceOf(StoaError)
      expect((err as StoaError).code).to.equal('INVALID_OPTIONS')
      expect((err as StoaError).message).to.match(/route "/)
    })
  }
})
