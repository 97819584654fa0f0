import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import { ERROR_CODES, ERRORS, StoaError, toStoaError, unwritableResult } from '../../actions/errors.js'

describe('actions/errors', () => {
  it('documents every code in docs/errors.md with the HTTP status and retryability of the table, and nothing else', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \|[^|]*\| (\d{3}) \| (yes|no) \|$/gm)].map((m) => [
      m[1],
      Number(m[2]),
      m[3] === 'yes',
    ])
    expect(rows.map((r) => r[0])).to.deep.equal([...ERROR_CODES])
    expect(rows).to.deep.equal(ERROR_CODES.map((code) => [code, ERRORS[code].http, ERRORS[code].retryable]))
  })

  it('maps the codes callers rely on to their HTTP statuses', () => {
    expect(ERRORS.INVALID_MESSAGE.http).to.equal(400)
    expect(ERRORS.UNAUTHENTICATED.http).to.equal(401)
    expect(ERRORS.FORBIDDEN.http).to.equal(403)
    expect(ERRORS.NOT_FOUND.http).to.equal(404)
    expect(ERRORS.TIMEOUT.http).to.equal(504)
    expect(ERRORS.OVERLOADED.http).to.equal(503)
    expect(ERRORS.UNAVAILABLE.http).to.equal(503)
    expect(ERRORS.ACTION_FAILED.http).to.equal(500)
  })

  it('is frozen: a row cannot be changed at run time', () => {
    expect(Object.isFrozen(ERRORS)).to.equal(true)
    for (const code of ERROR_CODES) expect(Object.isFrozen(ERRORS[code]), code).to.equal(true)
  })

  it('serialises to code, message and details only, and back with the same code', () => {
    const err = new StoaError('FORBIDDEN', 'no access', { need: 'admin' }, { cause: new Error('inner') })
    const wire = JSON.parse(JSON.stringify(err)) as Record<string, unknown>
    expect(wire).to.deep.equal({ code: 'FORBIDDEN', message: 'no access', details: { need: 'admin' } })
    const back = StoaError.fromJSON(wire)
    expect(back).to.be.instanceOf(StoaError)
    expect([back.code, back.message, back.details]).to.deep.equal(['FORBIDDEN', 'no access', { need: 'admin' }])
  })

  it('rebuilds an unknown or malformed wire error as ACTION_FAILED', () => {
    expect(StoaError.fromJSON({ code: 'EWHATEVER', message: 'x' }).code).to.equal('ACTION_FAILED')
    expect(StoaError.fromJSON('garbage').code).to.equal('ACTION_FAILED')
    expect(StoaError.fromJSON(null).code).to.equal('ACTION_FAILED')
  })

  it('wraps anything thrown as ACTION_FAILED keeping the original as the local cause', () => {
    const original = new RangeError('x')
    const e = toStoaError(original)
    expect([e.code, e.cause]).to.deep.equal(['ACTION_FAILED', original])
    const same = new StoaError('TIMEOUT', 't')
    expect(toStoaError(same)).to.equal(same)
  })

  it('names a result JSON cannot hold ACTION_FAILED, keeping the serializer error only locally', () => {
    let thrown: unknown
    try {
      JSON.stringify({ n: 1n })
    } catch (err) {
      thrown = err
    }
    const e = unwritableResult(thrown)
    expect(e.code).to.equal('ACTION_FAILED')
    expect(e.message).to.equal('the result cannot be written as JSON')
    expect(e.cause).to.equal(thrown)
    expect(e.toJSON()).to.deep.equal({ code: 'ACTION_FAILED', message: 'the result cannot be written as JSON' })
  })

  it('recognises errors made by another copy of the kernel as StoaErrors', async () => {
    const copy = (await import(
      `../../actions/errors.js?copy=${Date.now()}`
    )) as typeof import('../../actions/errors.js')
    expect(copy.StoaError).not.to.equal(StoaError)
    const foreign = new copy.StoaError('FORBIDDEN', 'no')
    expect(foreign).to.be.instanceOf(StoaError)
    expect(new StoaError('TIMEOUT', 't')).to.be.instanceOf(copy.StoaError)
    expect(toStoaError(foreign)).to.equal(foreign)
    expect(new Error('plain')).not.to.be.instanceOf(StoaError)
    expect({ code: 'FORBIDDEN' }).not.to.be.instanceOf(StoaError)
  })
})
