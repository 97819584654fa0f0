import { expect } from 'chai'
import { checkPath, createMatcher } from '../../../actions/http/match.js'
import { StoaError } from '../../../actions/index.js'

describe('web route matcher', () => {
  const routes = [
    { method: 'GET', path: '/sum' },
    { method: 'POST', path: '/votes/:id' },
    { method: 'GET', path: '/a/:x/b/:y' },
    { method: 'GET', path: '/file.json' },
  ]
  const find = createMatcher(routes)

  it('finds literal paths like express: case-insensitive, trailing slash optional', () => {
    expect(find('GET', '/sum')?.route).to.equal(routes[0])
    expect(find('GET', '/SUM/')?.route).to.equal(routes[0])
    expect(find('POST', '/sum')).to.equal(undefined)
    expect(find('GET', '/file.json')?.route).to.equal(routes[3])
    expect(find('GET', '/fileXjson')).to.equal(undefined)
  })

  it('decodes path parameters', () => {
    expect(find('POST', '/votes/a%20b')).to.deep.equal({ route: routes[1], params: { id: 'a b' } })
    expect(find('GET', '/a/1/b/2/')?.params).to.deep.equal({ x: '1', y: '2' })
    expect(find('POST', '/votes/1/extra')).to.equal(undefined)
  })

  it('answers HEAD with a GET route', () => {
    expect(find('HEAD', '/sum')?.route).to.equal(routes[0])
  })

  it('refuses malformed percent-encoding with INVALID_MESSAGE', () => {
    expect(() => find('POST', '/votes/%E0%A4%A'))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_MESSAGE')
  })

  it('accepts literal and :name segments only', () => {
    expect(checkPath('/votes/:id/x')).to.equal(undefined)
    expect(checkPath('votes')).to.match(/start with/)
    expect(checkPath('/files/*rest')).to.match(/neither literal/)
    expect(checkPath('/a{/:b}')).to.match(/neither literal/)
  })
})
