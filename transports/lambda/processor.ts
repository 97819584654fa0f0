import type { Stoa } from '../../actions/index.js'
import type { HttpRequest, Logger, TransportHost, WebPipeline } from '../../actions/transport.js'
import { assertEventName, matchesSubscription, StoaError } from '../../actions/transport.js'
import type { ResolvedLambdaHandlerOptions } from './options.js'

/**
 * What a handler needs of the Lambda invocation context: the part of the Node runtime's
 * `context` object stoa reads. Declared here so that `stoa/lambda` needs no AWS type package.
 */
export interface LambdaContext {
  /** Milliseconds left before Lambda stops this invocation. */
  getRemainingTimeInMillis(): number
  /** This invocation's id: the message id and trace of calls that carry none. */
  readonly awsRequestId?: string
  readonly functionName?: string
}

/** What the processors share: the started service and the handler's settings. */
export interface HandlerRuntime {
  readonly stoa: Stoa<any>
  /** The service as a listening transport sees it: dispatch, subscriptions, log. */
  readonly host: TransportHost
  readonly settings: ResolvedLambdaHandlerOptions
  readonly log: Logger
  /** The web pipeline for API Gateway events (with no route when the service has no web plugin). */
  readonly web: WebPipeline<HttpRequest>
}

/** The event shapes a handler tells apart. */
export type EventKind = 'direct' | 'apigw-v1' | 'apigw-v2' | 'sqs' | 'eventbridge'

/**
 * One event shape: how to recognise it, and how to serve it. `handle` resolves with what the
 * handler returns to Lambda, or rejects with what Lambda should see as a failed invocation.
 */
export interface EventProcessor<E = any> {
  readonly kind: EventKind
  /** Whether an event (already known to be a non-array object) has this shape. */
  matches(event: Record<string, unknown>): boolean
  handle(event: E, context: LambdaContext | undefined, rt: HandlerRuntime): Promise<unknown>
}

/**
 * The latest deadline Lambda's remaining time allows for work starting at `now`: the remaining
 * time less the margin, so an action times out, and its answer is sent, before Lambda stops
 * the function. Undefined outside Lambda (a handler called without a context).
 */
export function lambdaDeadline(context: LambdaContext | undefined, now: number, marginMs: number): number | undefined {
  if (context === undefined || typeof context.getRemainingTimeInMillis !== 'function') return undefined
  return now + Math.max(0, context.getRemainingTimeInMillis() - marginMs)
}

/** The time budget left before `deadline`, ms, at least 1 (0 would mean "no limit" to some callers). */
export function budgetMs(deadline: number | undefined, now: number): number | undefined {
  return deadline === undefined ? undefined : Math.max(1, deadline - now)
}

/**
 * Checks that this service subscribes to an event an AWS source delivered (EventBridge, SQS):
 * a rule or queue that sends it here by mistake gets `NOT_FOUND`, and its dead-letter queue the
 * event, rather than the event vanishing as handled. A bad name is `INVALID_NAME`.
 */
export function assertSubscribed(host: TransportHost, name: string): void {
  assertEventName(name)
  if (!host.subscriptions().some((s) => matchesSubscription(s, name))) {
    throw new StoaError('NOT_FOUND', `service "${host.service}" has no subscriber for event "${name}"`, { event: name })
  }
}

/**
 * Top-level keys that mark an event or notification from an AWS service (S3, SNS, SES, Kinesis,
 * CloudWatch Logs, Cognito, Firehose, Bedrock, API Gateway, EventBridge...). An object without
 * any of them is a plain message (the console's "Test" button, `aws lambda invoke`, a queued
 * `{"role":"math","cmd":"sum"}`); one with them must not become an act that happens to match.
 * `TopicArn` is SNS's envelope when it delivers to an SQS queue without raw delivery.
 */
const AWS_MARKERS = [
  'Records',
  'requestContext',
  'routeKey',
  'rawPath',
  'httpMethod',
  'detail-type',
  'awslogs',
  'triggerSource',
  'deliveryStreamArn',
  'invocationId',
  'eventSource',
  'TopicArn',
] as const

/** Whether an object carries one of the keys an AWS service's event has at its top level. */
export function fromAwsService(event: Record<string, unknown>): boolean {
  for (const key of AWS_MARKERS) if (Object.hasOwn(event, key)) return true
  return false
}
