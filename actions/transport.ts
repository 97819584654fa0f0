/**
 * `stoa/transport`: the entry point for transport authors. The contract a transport
 * implements, the envelope it moves, and the helpers every transport needs once (turning a
 * failure into a reply, waiting for work in hand up to a grace period, sweeping expired
 * waits, matching pins and names), and its HTTP section (`actions/http/`): the web pipeline
 * every HTTP front serves routes through, and the kit every node:http server uses (one body
 * reader, one error answer, one probe answer, one close policy). Application code imports
 * `stoa` (and `stoa/web`) instead.
 *
 * @module stoa/transport
 */
import type { Envelope, Reply } from './envelope.js'
import type { TransportHealth } from './health.js'
import type { TransportHost } from './host.js'
import type { Pattern } from './pattern.js'

export type { Clock, Timer } from './deadlines.js'
export type { Envelope, EnvelopeKind, EnvelopeMeta, Reply, ResponseHeaders, SubscriptionEach } from './envelope.js'
export type { ErrorCode, StoaErrorJSON } from './errors.js'
export { ERRORS, isErrorCode, StoaError, toStoaError, unwritableResult } from './errors.js'
export type { CheckStatus, Readiness, TransportHealth } from './health.js'
export type { TransportHost } from './host.js'
// The HTTP section: the web pipeline and the server kit.
export type { WebResponse } from './http/answer.js'
export {
  errorHead,
  errorResponse,
  methodNotAllowed,
  rateLimitPolicy,
  rateLimitState,
  redirectResponse,
  sendResponse,
  unmatchedResponse,
} from './http/answer.js'
export type { HttpHeaders } from './http/body.js'
export { checkContentType, hasBody, parseJsonBody, parseJsonObject, readBody, tooLarge } from './http/body.js'
export { checkSameOrigin, readCookie } from './http/cookie.js'
export type { Match } from './http/match.js'
export { checkPath, createMatcher } from './http/match.js'
export type {
  HttpReply,
  HttpRequest,
  MiddlewarePolicy,
  RequestBody,
  StreamOpen,
  WebHost,
  WebOutcome,
  WebPipeline,
  WebPipelineOptions,
} from './http/pipeline.js'
export { createWebPipeline } from './http/pipeline.js'
export type {
  CorsPolicy,
  EventRecords,
  EventStreamRequest,
  EventStreamRoute,
  HttpMethod,
  RouteSource,
  ServedRoute,
  StreamClient,
  StreamEvent,
  StreamRoute,
  StreamSource,
  WebMiddleware,
  WebRoute,
} from './http/routes.js'
export { HTTP_METHODS, routeTableAction, webRoutes } from './http/routes.js'
export type { ReadinessSource, ServerCloser } from './http/server.js'
export {
  ALIVE_PATH,
  CLOSE_GRACE_MS,
  closeServer,
  probeResponse,
  READY_PATH,
  requestPath,
  serverCloser,
} from './http/server.js'
export type { Logger } from './logger.js'
export { assertEventName, assertTaskName, matchesSubscription, taskService } from './names.js'
export type { Observe, TransportObserver } from './observe.js'
export type { Message, Pattern } from './pattern.js'
export { describeMessage, matchesPattern, mergeMessages } from './pattern.js'
export type { RetryOutcome, RetryPolicy } from './retry.js'
export { backoffDelays, bulkheadRefusal, decideRetry } from './retry.js'
export { deferredSchema } from './schema.js'
export type { TraceParent } from './trace-context.js'
export { checkTracestate, formatTraceparent, isTraceId, parseTraceparent } from './trace-context.js'
export {
  errorReply,
  listenOn,
  loadPeer,
  pinKeys,
  requirePeer,
  resolveTransportOptions,
  retryAfter,
  Sweeper,
  settleWithin,
  withDispatch,
} from './transport-kit.js'

/** The sending side of a transport: delivers an envelope to wherever it must go. */
export interface TransportClient {
  /**
   * For `act`: resolves with the remote reply. For `send`/`emit`: resolves once the transport
   * has accepted the message (RabbitMQ confirmed it, the bus handed it over) with
   * `{ ok: true, out: undefined }`, or with an error reply when it could not be delivered.
   */
  deliver(envelope: Envelope): Promise<Reply>
}

/**
 * The contract every transport implements. The kernel knows nothing about any particular
 * transport; a service is assembled with the ones it uses.
 *
 * @example
 * const bus = createMemoryBus()
 * const stoa = createStoa({ name: 'tally' })
 * stoa.listen(createMemoryTransport({ bus }))
 */
export interface Transport {
  /** Short lowercase name: `memory`, `http`, `amqp`, `lambda`. */
  readonly name: string
  /** Starts receiving: requests for actions matching `pins`, plus the host's tasks and events. */
  listen?(host: TransportHost, pins: readonly Pattern[]): Promise<void>
  /** Starts a client for acts matching `pins` and for tasks and events. */
  client?(host: TransportHost, pins: readonly Pattern[]): Promise<TransportClient>
  /**
   * Whether the transport can carry work now: a broker connection that is down or blocked is
   * not ready. Absent: always ready.
   */
  health?(): TransportHealth
  /**
   * The first step of a graceful close, before in-flight work drains: stop taking new work
   * (stop listening, cancel consumers) while the work in hand is still answered and
   * acknowledged. `close()` follows.
   */
  stopAccepting?(): Promise<void>
  /**
   * Stops taking new tasks and events for a while (AMQP: cancel the consumers; NATS: stop
   * pulling), without closing: work in hand is still answered, and what a broker holds stays
   * queued for other instances. Called when the host's `held` becomes true. Acts may still be
   * answered (their caller waits and gets the error at once).
   */
  pause?(): Promise<void>
  /** Takes tasks and events again after {@link Transport.pause}, when `held` is false again. */
  resume?(): Promise<void>
  /** Stops receiving, lets in-flight deliveries finish, and releases every resource. */
  close(): Promise<void>
}
