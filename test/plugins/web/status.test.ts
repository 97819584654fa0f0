import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { ERROR_CODES } from '../../../actions/index.js'
import { httpStatus } from '../../../plugins/web/status.js'

describe('web status mapping', () => {
  it('gives every error code the HTTP status docs/errors.md lists', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
    const listed: Record<string, number> = {}
    for (const m of doc.matchAll(/^\| `([A-Z_]+)` \|[^|]*\| (\d{3}) \|/gm)) listed[m[1]!] = Number(m[2])
    expect(Object.keys(listed).sort()).to.deep.equal([...ERROR_CODES].sort())
    expect(httpStatus).to.deep.equal(listed)
  })

  it('maps the codes the issue names to their statuses', () => {
    expect(httpStatus.INVALID_MESSAGE).to.equal(400)
    expect(httpStatus.UNAUTHENTICATED).to.equal(401)
    expect(httpStatus.FORBIDDEN).to.equal(403)
    expect(httpStatus.NOT_FOUND).to.equal(404)
    expect(httpStatus.TIMEOUT).to.equal(504)
    expect(httpStatus.OVERLOADED).to.equal(503)
    expect(httpStatus.UNAVAILABLE).to.equal(503)
    expect(httpStatus.ACTION_FAILED).to.equal(500)
  })
})
