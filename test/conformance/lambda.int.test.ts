import type { Stoa } from '../../actions/index.js'
import { createLambdaTransport, lambdaHandler } from '../../transports/lambda/index.js'
import { inProcessContainer, startLambdaEndpoint } from '../helpers/lambda-endpoint.js'
import { conformance } from './suite.js'

/*
 * Each listening service is a Lambda function behind a local Invoke API endpoint, reached by
 * the real AWS SDK client; each listening instance is one container of its function (one
 * invocation at a time). The suite builds its services in the test, so the containers run
 * `lambdaHandler` in this process; test/transports/lambda/client.e2e.test.ts runs the handler
 * in a child process as the Lambda runtime does.
 *
 * A Lambda client names one function, as an HTTP client names one listener: a calling
 * instance gets one client transport per function, the target's first, each knowing the
 * service its function runs so that tasks for other services go on to the next.
 *
 * Every case applies. Acts are `RequestResponse` invocations; tasks and events are `Event`
 * invocations, which Lambda queues and answers 202: for them the cases that look at an answer
 * (result, error codes, deadline expiry, close with work in flight) cannot apply, since the
 * caller never hears how the function fared; the send and emit cases check delivery only.
 */
conformance(
  'lambda',
  async () => {
    const endpoint = await startLambdaEndpoint()
    const functions = new Set<string>()
    const client = (functionName: string) =>
      createLambdaTransport({
        functionName,
        service: functionName,
        endpoint: endpoint.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      })
    return {
      listen(stoa: Stoa<any>) {
        const container = inProcessContainer(lambdaHandler(stoa, { marginMs: 50 }))
        if (functions.has(stoa.name)) endpoint.addContainer(stoa.name, container)
        else {
          endpoint.addFunction(stoa.name, [container], 15000)
          functions.add(stoa.name)
        }
      },
      client(stoa: Stoa<any>, target: string, pins: string[]) {
        stoa.client(client(target), pins)
        for (const fn of functions) if (fn !== target && fn !== stoa.name) stoa.client(client(fn), [])
      },
      close: () => endpoint.close(),
    }
  },
  {
    instance: 'an Event invocation reaches one container of a function: there is no fan-out to every instance',
    batch:
      'a container runs one Event invocation at a time, so a batch there holds one task; SQS batches are batched (test/transports/lambda/handler.test.ts)',
  },
)
