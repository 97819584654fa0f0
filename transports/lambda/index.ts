/**
 * The Lambda transport, both ways: a client that invokes a function through the AWS SDK (acts
 * as `RequestResponse`, tasks and events as `Event` invocations), and `lambdaHandler`, which
 * runs any stoa service as a function serving direct invocations, API Gateway and function URL
 * events (through the web plugin's routes), SQS batches and EventBridge events.
 *
 * @module stoa/lambda
 */
import { createRequire } from 'node:module'
import type { Transport, TransportClient } from '../../actions/transport.js'
import type { LambdaTransportClient } from './client.js'
import { createClient } from './client.js'
import type * as OptionsModule from './options.js'
import type { LambdaOptions } from './options.js'

export type { LambdaHandler } from './handler.js'
export { lambdaHandler } from './handler.js'
export type { LambdaHandlerOptions, LambdaOptions } from './options.js'
export type { LambdaContext } from './processor.js'

const require = createRequire(import.meta.url)

/**
 * Creates a Lambda client transport: acts matching its pins, tasks and events go to one
 * function. An act waits for the function's answer; a task or event resolves once Lambda has
 * accepted it (202), after which Lambda runs it and retries it on failure. Region, endpoint
 * and credentials come from the options, then the standard AWS environment and credential
 * chain. The AWS SDK is loaded when the client starts.
 *
 * @example
 * const gateway = createStoa({ name: 'gateway' })
 *   .client(createLambdaTransport({ functionName: 'math', region: 'eu-west-1' }), ['role:math'])
 * await gateway.act('role:math,cmd:sum', { left: 1, right: 2 })
 */
export function createLambdaTransport(options: LambdaOptions): Transport {
  // The client's options schema (and zod) is loaded here, not by a handler importing this door.
  const settings = (require('./options.js') as typeof OptionsModule).resolveLambdaOptions(options)
  const clients: LambdaTransportClient[] = []
  return {
    name: 'lambda',
    async client(): Promise<TransportClient> {
      const client = await createClient(settings)
      clients.push(client)
      return client
    },
    async close() {
      for (const c of clients.splice(0)) c.close()
    },
  }
}
