import { expect } from 'chai'
import type { ServedRoute } from '../../../actions/transport.js'
import { createMatcher, unmatchedResponse } from '../../../actions/transport.js'

const route = (method: ServedRoute['method'], path: string): ServedRoute => ({
  method,
  path,
  pattern: 'role:x',
  status: 200,
  plugin: 'web',
  maxBodyBytes: 1,
  headers: [],
  message: 'flat',
})

describe('web: what a request no route takes is answered', () => {
  const find = createMatcher([route('GET', '/sum'), route('POST', '/votes/:id'), route('PUT', '/votes/:id')])

  it('answers the wrong method on a known path 405, with Allow and the methods in details', () => {
    const res = unmatchedResponse(find, 'DELETE', '/votes/7')
    expect(res.status).to.equal(405)
    expect(res.headers.allow).to.equal('POST, PUT, OPTIONS')
    expect(JSON.parse(res.body!)).to.deep.equal({
      error: {
        code: 'METHOD_NOT_ALLOWED',
        message: 'no route for DELETE on this path; it answers POST, PUT, OPTIONS',
        details: { allow: ['POST', 'PUT', 'OPTIONS'] },
      },
    })
  })

  it('answers OPTIONS on a known path 204 with Allow, HEAD wherever GET is', () => {
    expect(unmatchedResponse(find, 'OPTIONS', '/SUM/')).to.deep.equal({
      status: 204,
      headers: { allow: 'GET, HEAD, OPTIONS' },
      body: undefined,
    })
  })

  it('counts a path whose parameter is badly encoded as known', () => {
    expect(unmatchedResponse(find, 'GET', '/votes/%E0%A4%A').status).to.equal(405)
  })

  it('answers any other path 404 NOT_FOUND', () => {
    const res = unmatchedResponse(find, 'GET', '/nowhere')
    expect(res.status).to.equal(404)
    expect(JSON.parse(res.body!).error.code).to.equal('NOT_FOUND')
    expect(res.headers.allow).to.equal(undefined)
  })
})
