import { expect } from 'chai'
import { StoaError } from '../../../actions/index.js'
import { checkSameOrigin, clearTokenCookie, readCookie, tokenCookie } from '../../../plugins/web/cookie.js'

describe('web: the login cookie', () => {
  it('is HttpOnly, SameSite=Lax, Secure, bounded, scoped to the parent domain', () => {
    expect(tokenCookie('a.b.c', { domain: 'example.com', maxAgeSec: 600 })).to.equal(
      'stoa_token=a.b.c; Domain=example.com; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure',
    )
    expect(tokenCookie('a.b.c')).to.equal('stoa_token=a.b.c; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure')
  })

  it('is not Secure on localhost, where there is no HTTPS', () => {
    expect(tokenCookie('a.b.c', { domain: 'localhost' })).not.to.include('Secure')
    expect(tokenCookie('a.b.c', { domain: 'app.localhost' })).not.to.include('Secure')
  })

  it('refuses an unbounded lifetime, a bad domain and a value that is no token', () => {
    expect(() => tokenCookie('a.b.c', { maxAgeSec: 365 * 24 * 3600 })).to.throw(StoaError, /maxAgeSec/)
    expect(() => tokenCookie('a.b.c', { domain: 'example.com; Secure=0' })).to.throw(StoaError)
    expect(() => tokenCookie('a.b.c; Domain=evil.test')).to.throw(StoaError)
  })

  it('is cleared with the same scope', () => {
    expect(clearTokenCookie({ domain: 'example.com' })).to.equal(
      'stoa_token=; Domain=example.com; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    )
  })

  it('is read from the Cookie header by name', () => {
    expect(readCookie('a=1; stoa_token=x.y.z; b=2', 'stoa_token')).to.equal('x.y.z')
    expect(readCookie('xstoa_token=1', 'stoa_token')).to.equal(undefined)
    expect(readCookie('stoa_token=', 'stoa_token')).to.equal(undefined)
    expect(readCookie(undefined, 'stoa_token')).to.equal(undefined)
  })

  describe('CSRF defence', () => {
    const allowed = ['https://app.example.com']
    const refuses = (method: string, headers: Record<string, string>, list = allowed) => {
      try {
        checkSameOrigin(method, headers, list)
        return false
      } catch (err) {
        expect((err as StoaError).code).to.equal('FORBIDDEN')
        return true
      }
    }

    it('lets safe methods through from anywhere', () => {
      expect(refuses('GET', { origin: 'https://evil.test' })).to.equal(false)
    })

    it('allows a change from a listed origin, refuses one from elsewhere', () => {
      expect(refuses('POST', { origin: 'https://app.example.com' })).to.equal(false)
      expect(refuses('POST', { origin: 'https://evil.test' })).to.equal(true)
      expect(refuses('DELETE', { origin: 'https://app.example.com.evil.test' })).to.equal(true)
    })

    it('without a list, allows only the request host', () => {
      expect(refuses('POST', { origin: 'https://api.example.com', host: 'api.example.com' }, [])).to.equal(false)
      expect(refuses('POST', { origin: 'https://evil.test', host: 'api.example.com' }, [])).to.equal(true)
    })

    it('falls back on Sec-Fetch-Site, and refuses a change that says nothing of where it comes from', () => {
      expect(refuses('POST', { 'sec-fetch-site': 'same-origin' })).to.equal(false)
      expect(refuses('POST', { 'sec-fetch-site': 'same-site' })).to.equal(true)
      expect(refuses('POST', { 'sec-fetch-site': 'cross-site' })).to.equal(true)
      expect(refuses('POST', {})).to.equal(true)
    })
  })
})
