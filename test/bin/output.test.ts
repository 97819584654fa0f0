import { expect } from 'chai'
import { ERROR_CODES, StoaError } from '../../actions/index.js'
import { exitCodes } from '../../bin/exit-codes.js'
import { isStoaErrorLike, writeError, writeJson } from '../../bin/output.js'

function collect(isTTY = false) {
  let text = ''
  return { isTTY, write: (s: string) => (text += s), text: () => text }
}

describe('bin/output', () => {
  it('recognises a StoaError from another copy of the kernel by its name and code', () => {
    const foreign = Object.assign(new Error('no'), { name: 'StoaError', code: 'FORBIDDEN' })
    expect(isStoaErrorLike(foreign)).to.equal(true)
    expect(isStoaErrorLike(new StoaError('TIMEOUT', 'late'))).to.equal(true)
    expect(isStoaErrorLike(Object.assign(new Error('x'), { name: 'StoaError', code: 'MADE_UP' }))).to.equal(false)
    expect(isStoaErrorLike(new Error('plain'))).to.equal(false)
    expect(isStoaErrorLike({ name: 'StoaError', code: 'TIMEOUT', message: 'not an Error' })).to.equal(false)
  })

  it('writes CODE: message, and details and stack only when verbose', () => {
    const err = new StoaError('INVALID_MESSAGE', 'left is missing', { fields: ['left'] })
    const quiet = collect()
    writeError(quiet, err, false)
    expect(quiet.text()).to.equal('INVALID_MESSAGE: left is missing\n')
    const loud = collect()
    writeError(loud, err, true)
    expect(loud.text()).to.match(
      /^INVALID_MESSAGE: left is missing\ndetails: \{"fields":\["left"\]\}\nStoaError: left is missing\n\s+at /,
    )
  })

  it('writes one JSON value: compact, indented on a terminal, null for nothing', () => {
    const pipe = collect()
    writeJson(pipe, { a: [1] })
    writeJson(pipe, undefined)
    expect(pipe.text()).to.equal('{"a":[1]}\nnull\n')
    const tty = collect(true)
    writeJson(tty, { a: 1 })
    expect(tty.text()).to.equal('{\n  "a": 1\n}\n')
  })

  it('refuses a result JSON cannot hold with ACTION_FAILED, writing nothing', () => {
    const out = collect()
    expect(() => writeJson(out, { n: 1n }))
      .to.throw(StoaError)
      .with.property('code', 'ACTION_FAILED')
    expect(out.text()).to.equal('')
  })

  it('exits 1 for every error code', () => {
    for (const code of ERROR_CODES) expect(exitCodes[code], code).to.equal(1)
  })
})
