import { expect } from 'chai'
import { StoaError } from '../../../actions/index.js'
import { createLambdaTransport } from '../../../transports/lambda/index.js'
import {
  LAMBDA_LIMITS,
  lambdaEnv,
  resolveLambdaHandlerOptions,
  resolveLambdaOptions,
} from '../../../transports/lambda/options.js'

function invalid(fn: () => unknown): StoaError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(StoaError)
    expect((err as StoaError).code).to.equal('INVALID_OPTIONS')
    return err as StoaError
  }
  throw new Error('accepted')
}

describe('transports/lambda/options', () => {
  it("fills the safe defaults: Lambda's payload limits, three tries", () => {
    expect(resolveLambdaOptions({ functionName: 'tally' }, {})).to.deep.equal({
      functionName: 'tally',
      maxAttempts: 3,
      maxSyncPayloadBytes: LAMBDA_LIMITS.syncBytes,
      maxAsyncPayloadBytes: LAMBDA_LIMITS.asyncBytes,
    })
    expect(resolveLambdaHandlerOptions(undefined)).to.deep.equal({
      marginMs: 500,
      events: {},
      maxResponseBytes: LAMBDA_LIMITS.syncBytes,
    })
  })

  it("refuses unknown keys, a missing function, and limits above Lambda's", () => {
    expect(
      invalid(() => resolveLambdaOptions({ functionName: 'x', regoin: 'eu-west-1' } as never, {})).message,
    ).to.match(/regoin/)
    expect(invalid(() => createLambdaTransport({} as never)).details).to.deep.include({ fields: ['functionName'] })
    expect(
      invalid(() => resolveLambdaOptions({ functionName: 'x', maxSyncPayloadBytes: LAMBDA_LIMITS.syncBytes + 1 }, {}))
        .details,
    ).to.deep.include({
      fields: ['maxSyncPayloadBytes'],
    })
    invalid(() => resolveLambdaOptions({ functionName: 'has space' }, {}))
    invalid(() => resolveLambdaHandlerOptions({ margin: 5 } as never))
  })

  it('takes region and endpoint from the standard AWS variables when not given', () => {
    expect(lambdaEnv({ AWS_DEFAULT_REGION: 'eu-west-1' })).to.deep.equal({ region: 'eu-west-1' })
    expect(
      lambdaEnv({
        AWS_REGION: 'us-east-2',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:9001',
      }),
    ).to.deep.equal({
      region: 'us-east-2',
      endpoint: 'http://127.0.0.1:9001',
    })
    const s = resolveLambdaOptions(
      { functionName: 'x', region: 'ap-south-1' },
      { AWS_REGION: 'us-east-2', AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:9001' },
    )
    expect(s).to.deep.include({ region: 'ap-south-1', endpoint: 'http://127.0.0.1:9001' })
  })
})
