import { defineService } from '../../actions/index.js'
import { createLambdaTransport, lambdaHandler } from '../../transports/lambda/index.js'

/*
 * Compile-time checks of the Lambda entry point (run by `tsc --noEmit`): each
 * `@ts-expect-error` line must fail to compile, or the type check fails.
 */

createLambdaTransport({ functionName: 'tally' })
createLambdaTransport({
  functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:tally',
  region: 'eu-west-1',
  maxAttempts: 1,
})
// @ts-expect-error the function is required
createLambdaTransport({ region: 'eu-west-1' })
// @ts-expect-error options are required
createLambdaTransport()
// @ts-expect-error unknown option
createLambdaTransport({ functionName: 'tally', regoin: 'eu-west-1' })

const service = defineService({ name: 'tally', plugins: [] })
export const handler = lambdaHandler(service, { marginMs: 250, events: { 'Scheduled Event': 'export.scheduled' } })
// @ts-expect-error margin is a number of ms
lambdaHandler(service, { marginMs: '250' })
// @ts-expect-error a handler takes a service or an instance
lambdaHandler({ name: 'tally' })
