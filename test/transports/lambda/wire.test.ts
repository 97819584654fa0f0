import { expect } from 'chai'
import { ERROR_CODES, StoaError } from '../../../actions/index.js'
import type { Envelope } from '../../../actions/transport.js'
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  functionFailure,
  thrownError,
} from '../../../transports/lambda/wire.js'

describe('transports/lambda/wire', () => {
  const envelope: Envelope = {
    kind: 'send',
    name: 'tally.vote.record',
    msg: { voter: 'v1' },
    meta: { id: 'id-1', trace: 't-1', deadline: 10_500, token: 'jwt', caller: 'gateway' },
  }

  it("writes an envelope with the time left, and reads it back on the receiver's clock", () => {
    const text = encodeRequest(envelope, 10_000)
    expect(JSON.parse(text)).to.deep.equal({
      stoa: {
        v: 1,
        kind: 'send',
        name: 'tally.vote.record',
        id: 'id-1',
        trace: 't-1',
        timeoutMs: 500,
        caller: 'gateway',
        token: 'jwt',
      },
      msg: { voter: 'v1' },
    })
    const back = decodeRequest(JSON.parse(text), 50_000, undefined)
    expect(back).to.deep.equal({ ...envelope, meta: { ...envelope.meta, deadline: 50_500 } })
  })

  it('carries W3C Trace Context, naming the trace when none is given, and ignores an invalid traceparent', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const traced: Envelope = {
      ...envelope,
      meta: { ...envelope.meta, traceparent, tracestate: 'rojo=00f067aa0ba902b7' },
    }
    const payload = JSON.parse(encodeRequest(traced, 10_000))
    expect(payload.stoa).to.include({ traceparent, tracestate: 'rojo=00f067aa0ba902b7' })
    expect(decodeRequest(payload, 10_000, undefined).meta).to.include({
      traceparent,
      tracestate: 'rojo=00f067aa0ba902b7',
      trace: 't-1',
    })
    const { trace: _trace, ...untraced } = payload.stoa
    expect(decodeRequest({ ...payload, stoa: untraced }, 10_000, undefined).meta.trace).to.equal(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    )
    const broken = decodeRequest(
      { ...payload, stoa: { ...payload.stoa, traceparent: '00-zz-00f067aa0ba902b7-01' } },
      10_000,
      undefined,
    ).meta
    expect(broken.traceparent).to.equal(undefined)
    expect(broken.tracestate).to.equal(undefined)
  })

  it('never lets a deadline run past what Lambda leaves', () => {
    expect(decodeRequest(JSON.parse(encodeRequest(envelope, 0)), 0, 300).meta.deadline).to.equal(300)
    const noBudget = JSON.parse(encodeRequest({ ...envelope, meta: { id: 'a', trace: 'a' } }))
    expect(decodeRequest(noBudget, 0, 300).meta.deadline).to.equal(300)
    expect(decodeRequest(noBudget, 0, undefined).meta.deadline).to.equal(undefined)
  })

  it('refuses a malformed payload with INVALID_MESSAGE naming the field', () => {
    const bad = (stoa: unknown, msg: unknown = {}) => {
      try {
        decodeRequest({ stoa, msg } as never, 0, undefined)
      } catch (err) {
        expect(err).to.be.instanceOf(StoaError)
        expect((err as StoaError).code).to.equal('INVALID_MESSAGE')
        return (err as StoaError).details?.field
      }
      throw new Error('accepted')
    }
    expect(bad({ v: 2, kind: 'act' })).to.equal('stoa.v')
    expect(bad({ v: 1, kind: 'call' })).to.equal('stoa.kind')
    expect(bad({ v: 1, kind: 'act' }, [1])).to.equal('msg')
    expect(bad({ v: 1, kind: 'act', timeoutMs: -1 })).to.equal('stoa.timeoutMs')
    expect(bad({ v: 1, kind: 'act', trace: 'x'.repeat(300) })).to.equal('stoa.trace')
    expect(bad({ v: 1, kind: 'send' })).to.equal('stoa.name')
    expect(bad({ v: 1, kind: 'act', token: 5 })).to.equal('stoa.token')
  })

  it('round-trips every error code through a reply', () => {
    for (const code of ERROR_CODES) {
      const error = { code, message: `m ${code}`, details: { n: 1 } }
      expect(decodeReply(JSON.stringify(encodeReply({ ok: false, error })), undefined)).to.deep.equal({
        ok: false,
        error,
      })
    }
    expect(decodeReply(JSON.stringify(encodeReply({ ok: true, out: [1, { a: null }] })), undefined)).to.deep.equal({
      ok: true,
      out: [1, { a: null }],
    })
  })

  it('takes any other JSON as the whole result: a function that does not run stoa', () => {
    expect(decodeReply('{"statusCode":200}', undefined)).to.deep.equal({ ok: true, out: { statusCode: 200 } })
    expect(decodeReply('null', undefined)).to.deep.equal({ ok: true, out: undefined })
    expect(decodeReply('{oops', undefined)).to.deep.include({ ok: false })
  })

  it('reads a function error: a thrown StoaError keeps its code, a time-out is TIMEOUT, the rest ACTION_FAILED without message', () => {
    const thrown = thrownError({ code: 'FORBIDDEN', message: 'no' })
    expect(functionFailure({ errorType: thrown.name, errorMessage: thrown.message }, 'Unhandled')).to.deep.equal({
      ok: false,
      error: { code: 'FORBIDDEN', message: 'no' },
    })
    const timedOut = functionFailure(
      { errorMessage: '2026-11-27T08:00:00.000Z abc Task timed out after 3.00 seconds' },
      'Unhandled',
    )
    expect(timedOut).to.deep.include({ ok: false })
    expect((timedOut as { error: { code: string } }).error.code).to.equal('TIMEOUT')
    expect(
      functionFailure({ errorType: 'Error', errorMessage: 'password=hunter2', trace: ['at x'] }, 'Unhandled'),
    ).to.deep.equal({
      ok: false,
      error: {
        code: 'ACTION_FAILED',
        message: 'the function failed (Error)',
        details: { functionError: 'Unhandled', errorType: 'Error' },
      },
    })
    // A StoaError-looking type with an unknown code is not trusted.
    expect(
      (functionFailure({ errorType: 'StoaError', errorMessage: 'NOPE: x' }, 'Unhandled') as { error: { code: string } })
        .error.code,
    ).to.equal('ACTION_FAILED')
  })
})
