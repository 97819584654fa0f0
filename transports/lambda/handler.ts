import type { Service, Stoa } from '../../actions/index.js'
import { isService } from '../../actions/index.js'
import type { Logger, Transport, TransportHost } from '../../actions/transport.js'
import { createWebPipeline, StoaError, webRoutes } from '../../actions/transport.js'
import { apiGatewayV1Processor, apiGatewayV2Processor } from './api-gateway.js'
import { resolveLambdaHandlerOptions } from './defaults.js'
import { directProcessor } from './direct.js'
import { eventBridgeProcessor } from './eventbridge.js'
import type { LambdaHandlerOptions } from './options.js'
import type { EventProcessor, HandlerRuntime, LambdaContext } from './processor.js'
import { sqsProcessor } from './sqs.js'
import { thrownError } from './wire.js'

/** A Lambda handler running a stoa service, with the instance it runs. */
export interface LambdaHandler {
  (event: unknown, context?: LambdaContext): Promise<unknown>
  /** The service instance, started once per container. */
  readonly stoa: Stoa<any>
  /** Resolves once the instance is started (rejects if it failed to start). */
  ready(): Promise<void>
}

/**
 * The shapes a handler serves, most specific first: each test is cheap and looks at keys only
 * the AWS service that sends the event sets. A plain message comes last.
 */
const PROCESSORS: readonly EventProcessor[] = [
  sqsProcessor,
  apiGatewayV2Processor,
  apiGatewayV1Processor,
  eventBridgeProcessor,
  directProcessor,
]

/**
 * Tells which shape an event has: the processor that serves it, or undefined for an event this
 * handler does not serve (an S3 notification, an array, a string...).
 *
 * @example
 * detectEvent({ Records: [{ eventSource: 'aws:sqs', messageId: '1', body: '{}' }] })?.kind // 'sqs'
 */
export function detectEvent(event: unknown): EventProcessor | undefined {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return undefined
  for (const p of PROCESSORS) if (p.matches(event as Record<string, unknown>)) return p
  return undefined
}

/**
 * Turns a stoa service into a Lambda handler. The service starts when this is called, at
 * module load, which Lambda runs once per container before the first invocation (and, with
 * provisioned concurrency, ahead of any): invocations then reuse it. The handler
 * serves direct invocations (stoa's Lambda client, or a plain JSON message), API Gateway REST
 * and HTTP API events and function URLs (through the service's web routes), SQS batches and
 * EventBridge events; any other event fails with `INVALID_MESSAGE`, logged.
 *
 * @example
 * // handler.ts, the function's entry point
 * import { lambdaHandler } from 'stoa/lambda'
 * import service from './service.js'
 * export const handler = lambdaHandler(service)
 */
export function lambdaHandler(target: Service | Stoa<any>, options?: LambdaHandlerOptions): LambdaHandler {
  const settings = resolveLambdaHandlerOptions(options)
  const stoa: Stoa<any> = isService(target) ? target.create() : target
  let host: TransportHost | undefined
  // The handler listens like any transport: it receives the host that runs envelopes.
  const listener: Transport = {
    name: 'lambda',
    listen: async (h) => {
      host = h
    },
    close: async () => undefined,
  }
  stoa.listen(listener)
  let runtime: HandlerRuntime | undefined
  const starting: Promise<HandlerRuntime> = (async () => {
    await stoa.ready()
    // A route with express middleware is refused (500, and a warning now): it cannot run here.
    const web = createWebPipeline(stoa, await webRoutes(stoa), { middleware: 'refuse', front: 'Lambda' })
    runtime = Object.freeze({ stoa, host: host!, settings, log: stoa.log, web })
    return runtime
  })()
  // A failed start is reported by each invocation; it must not crash the container first.
  starting.catch((err: unknown) => stoa.log.error({ err: String(err) }, 'the service failed to start'))

  const started = (): Promise<HandlerRuntime> =>
    starting.catch((err: unknown) => {
      // The function answers every invocation with this failure until Lambda replaces it.
      throw thrownError(
        err instanceof StoaError ? err.toJSON() : { code: 'UNAVAILABLE', message: 'the service failed to start' },
      )
    })

  const serve = (rt: HandlerRuntime, event: unknown, context: LambdaContext | undefined): Promise<unknown> => {
    // A processor fails by rejecting; a throw is a bug, reported the same way, never a crash.
    try {
      const processor = detectEvent(event)
      if (processor === undefined) {
        const what = describe(event)
        rt.log.error({ event: what, requestId: context?.awsRequestId }, 'unknown event shape')
        return Promise.reject(
          thrownError({
            code: 'INVALID_MESSAGE',
            message: `this function serves stoa payloads, API Gateway, function URL, SQS and EventBridge events; got ${what}`,
          }),
        )
      }
      return processor.handle(event, context, rt)
    } catch (err) {
      return Promise.reject(err)
    }
  }
  // Once started, an invocation goes straight to its processor: no await on the hot path.
  const handler = ((event: unknown, context?: LambdaContext): Promise<unknown> =>
    (runtime !== undefined ? serve(runtime, event, context) : started().then((rt) => serve(rt, event, context))).then(
      undefined,
      (err: unknown) => {
        throw invocationError(err, stoa.log, context?.awsRequestId)
      },
    )) as LambdaHandler
  Object.defineProperty(handler, 'stoa', { value: stoa, enumerable: true })
  Object.defineProperty(handler, 'ready', { value: () => started().then(() => undefined), enumerable: true })
  return handler
}

/**
 * What a failed invocation throws to Lambda: a {@link thrownError} (`CODE: message`), with a
 * stack of that one line. The Node runtime copies the thrown error's stack, split into lines,
 * into the invocation's error payload (`trace`) and into X-Ray: without this the invoker would
 * read the deployment's file paths, which no other stoa wire shows. The stack goes to the
 * function's log instead: at `debug` for a stoa error (its processor has logged the code and
 * reason), at `error` for anything else, a bug, which the invoker sees as `ACTION_FAILED`.
 */
function invocationError(err: unknown, log: Logger, requestId: string | undefined): StoaError {
  const known = err instanceof StoaError
  const error = known ? err : new StoaError('ACTION_FAILED', 'the invocation failed')
  const out = error.message.startsWith(`${error.code}: `) ? error : thrownError(error.toJSON())
  const stack = err instanceof Error ? err.stack : String(err)
  const cause = known && err.cause instanceof Error ? err.cause.stack : undefined
  const fields = { code: out.code, requestId, stack, ...(cause === undefined ? {} : { cause }) }
  if (known) log.debug(fields, 'invocation failed')
  else log.error(fields, 'invocation failed')
  Object.defineProperty(out, 'stack', { value: `${out.name}: ${out.message}`, writable: true, configurable: true })
  return out
}

/** A short description of an unknown event, for the log and the error: its type, or its first keys. */
function describe(event: unknown): string {
  if (event === null) return 'null'
  if (Array.isArray(event)) return 'an array'
  if (typeof event !== 'object') return `a ${typeof event}`
  const keys = Object.keys(event)
  return keys.length === 0
    ? 'an empty object'
    : `an object with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''}`
}
