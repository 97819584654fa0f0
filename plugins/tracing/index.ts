/**
 * The tracing plugin: W3C Trace Context and OpenTelemetry spans around every call, through
 * `@opentelemetry/api` alone. With no OpenTelemetry SDK registered the API hands out spans
 * that record nothing, and the plugin only keeps `ctx.trace` a W3C trace id and passes
 * `traceparent` on; with one (`NodeTracerProvider`, say), every act, task, event, send and
 * emit is a span the user's exporter receives.
 *
 * @module stoa/tracing
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { Context as OtelContext, Span, SpanKind, SpanStatusCode, Tracer, TracerProvider } from '@opentelemetry/api'
import type { ActionInfo, Context, Deliver, Hooks, Message, RunAction } from '../../actions/index.js'
import { definePlugin, eventLoopTurn, runNext } from '../../actions/index.js'
import type { Envelope } from '../../actions/transport.js'
import { checkTracestate, formatTraceparent, isTraceId, loadPeer, parseTraceparent } from '../../actions/transport.js'
import { tracingOptions } from './options.js'

export type { TracingOptions } from './options.js'

/** What a call is, for span names and the `stoa.kind` attribute. */
type CallKind = 'act' | 'task' | 'event'

/** The span attributes stoa sets (OpenTelemetry's custom-attribute style, `stoa.` first). */
export const SPAN_ATTRIBUTES = {
  kind: 'stoa.kind',
  pattern: 'stoa.pattern',
  service: 'stoa.service',
  outcome: 'stoa.outcome',
  transport: 'stoa.transport',
} as const

type OtelApi = typeof import('@opentelemetry/api')

/**
 * One loading of the plugin: the OpenTelemetry API and its tracer once the plugin started, the
 * service it names, and the spans of running calls.
 */
class TracingState {
  readonly service: string
  /** The API, loaded when the plugin starts; until then calls pass through untraced. */
  api: OtelApi | undefined
  tracer!: Tracer
  /** The provider the API hands out while no SDK is registered. */
  private noop!: TracerProvider
  /** The span of each running call, for the calls it makes through a client transport. */
  readonly spans = new WeakMap<Context, Span>()

  constructor(service: string) {
    this.service = service
  }

  start(api: OtelApi, tracerName: string): void {
    this.api = api
    this.tracerName = tracerName
    this.tracer = api.trace.getTracer(tracerName)
    this.noop = new api.ProxyTracerProvider().getDelegate()
  }

  private tracerName = ''
  private checkedIn = -1
  private registered = false
  private provider: TracerProvider | undefined

  /**
   * Whether an OpenTelemetry SDK is registered now: asked once per turn of the event loop (an
   * SDK may be registered after the service started; its spans start from the next turn), and
   * cheaper than starting a span that records nothing. The tracer is taken again from the
   * provider registered: a tracer taken before from another copy of the API (one loaded as
   * CommonJS by an SDK's preload, one as ES module here) would never see it.
   */
  sdkRegistered(api: OtelApi): boolean {
    const turn = eventLoopTurn()
    if (turn !== this.checkedIn) {
      this.checkedIn = turn
      const provider = api.trace.getTracerProvider()
      this.registered = (provider instanceof api.ProxyTracerProvider ? provider.getDelegate() : provider) !== this.noop
      if (this.registered && provider !== this.provider) {
        this.provider = provider
        this.tracer = provider.getTracer(this.tracerName)
      }
    }
    return this.registered
  }
}

/** The kind of call an action serves: subscribers are `event:<name>`, task handlers have `task`. */
function callKind(action: ActionInfo): CallKind {
  if (typeof action.pattern.task === 'string') return 'task'
  if (action.key.startsWith('event:') && Object.keys(action.pattern).length === 1) return 'event'
  return 'act'
}

/** The OpenTelemetry context of a remote caller's span, from the traceparent it sent. */
function remoteParent(api: OtelApi, traceparent: string, tracestate: string | undefined): OtelContext | undefined {
  const tp = parseTraceparent(traceparent)
  if (tp === undefined) return undefined
  const state = checkTracestate(tracestate)
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: tp.traceId,
    spanId: tp.spanId,
    traceFlags: tp.flags,
    isRemote: true,
    ...(state === undefined ? {} : { traceState: parseState(state) }),
  })
}

/** A minimal TraceState over the header value: kept and passed on as it came. */
function parseState(value: string) {
  const state = {
    set: () => state,
    unset: () => state,
    get: (key: string) => {
      for (const member of value.split(',')) {
        const at = member.indexOf('=')
        if (at > 0 && member.slice(0, at).trim() === key) return member.slice(at + 1).trim()
      }
      return undefined
    },
    serialize: () => value,
  }
  return state
}

function newTraceId(): string {
  // A random UUID is 122 random bits from node's pooled entropy: cheaper than randomBytes.
  return randomUUID().replaceAll('-', '')
}

function newSpanId(): string {
  return randomBytes(8).toString('hex')
}

function outcomeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'ACTION_FAILED'
}

/** OpenTelemetry's SpanStatusCode.ERROR (the API is loaded only when the plugin starts). */
const STATUS_ERROR = 2 as SpanStatusCode

function finish(span: Span, err: unknown): void {
  const outcome = err === undefined ? 'ok' : outcomeOf(err)
  span.setAttribute(SPAN_ATTRIBUTES.outcome, outcome)
  if (err !== undefined) span.setStatus({ code: STATUS_ERROR, message: outcome })
  span.end()
}

/** For runNext: ends the call's span with its outcome and passes the result on. */
function ended(out: unknown, _msg: Message, _ctx: Context, span: Span): unknown {
  finish(span, undefined)
  return out
}

/** For runNext: ends the call's span with its failure and passes the failure on. */
function endedFailing(err: unknown, _msg: Message, _ctx: Context, span: Span): never {
  finish(span, err)
  throw err
}

function inbound(state: TracingState): NonNullable<Hooks['inbound']> {
  return (next: RunAction, action: ActionInfo): RunAction => {
    const kind = callKind(action)
    const name =
      kind === 'act'
        ? action.key
        : kind === 'task'
          ? `process ${String(action.pattern.task)}`
          : `process ${action.key.slice('event:'.length)}`
    const attributes = { [SPAN_ATTRIBUTES.kind]: kind, [SPAN_ATTRIBUTES.pattern]: action.key }
    // Built once per action: a call only picks one. The numbers are OpenTelemetry's SpanKind
    // (the API is loaded only when the plugin starts): INTERNAL 0, SERVER 1, CONSUMER 4.
    const asServer = { kind: (kind !== 'act' ? 4 : 1) as SpanKind }
    const asInternal = { kind: (kind !== 'act' ? 4 : 0) as SpanKind }
    return (msg, ctx) => {
      const api = state.api
      if (api === undefined) return next(msg, ctx)
      if (ctx.traceparent === undefined && !state.sdkRegistered(api)) {
        // No SDK: no span can record, and a call that came with no traceparent has no parent
        // to pass on. Only the trace id is to be made W3C, and only if it is read.
        ctx.adoptTrace(newTraceId)
        return next(msg, ctx)
      }
      const remote = ctx.traceparent === undefined ? undefined : remoteParent(api, ctx.traceparent, ctx.tracestate)
      // A call from another process continues its caller's span; a nested call here, the span
      // active in the calling action (an SDK's context manager carries it across awaits).
      const parent = remote ?? api.context.active()
      const span = state.tracer.startSpan(name, remote === undefined ? asInternal : asServer, parent)
      if (!span.isRecording()) {
        // No SDK, or not sampled: nothing is recorded, but the trace id stays W3C so that the
        // traceparent sent on names the same trace as ctx.trace. Made only if it is read.
        const sc = span.spanContext()
        ctx.adoptTrace(isTraceId(sc.traceId) ? spanTraceId(sc.traceId) : newTraceId)
        return next(msg, ctx)
      }
      span.setAttributes(attributes)
      span.setAttribute(SPAN_ATTRIBUTES.service, state.service)
      const traceId = span.spanContext().traceId
      ctx.adoptTrace(spanTraceId(traceId))
      state.spans.set(ctx, span)
      const active = api.trace.setSpan(parent, span)
      return runNext((m, c) => api.context.with(active, next, undefined, m, c), msg, ctx, span, ended, endedFailing)
    }
  }
}

/** A trace maker for `ctx.adoptTrace` returning a span's trace id. */
function spanTraceId(traceId: string): () => string {
  return () => traceId
}

function outbound(state: TracingState): NonNullable<Hooks['outbound']> {
  return (next: Deliver, target): Deliver => {
    return (e: Envelope, ctx: Context | undefined) => {
      const api = state.api
      if (api === undefined) return next(e, ctx)
      const { context, trace } = api
      const parentSpan = ctx === undefined ? undefined : state.spans.get(ctx)
      const parent = parentSpan !== undefined ? trace.setSpan(context.active(), parentSpan) : context.active()
      const what = e.kind === 'act' ? 'act' : e.kind === 'send' ? 'task' : 'event'
      const span = state.tracer.startSpan(
        e.kind === 'act' ? `act ${target.transport}` : `send ${String(e.name)}`,
        {
          kind: e.kind === 'act' ? api.SpanKind.CLIENT : api.SpanKind.PRODUCER,
          attributes: {
            [SPAN_ATTRIBUTES.kind]: what,
            [SPAN_ATTRIBUTES.service]: state.service,
            [SPAN_ATTRIBUTES.transport]: target.transport,
            ...(e.name === undefined ? {} : { [SPAN_ATTRIBUTES.pattern]: e.name }),
          },
        },
        parent,
      )
      const sc = span.spanContext()
      let traceparent: string | undefined
      let tracestate: string | undefined
      if (span.isRecording()) {
        traceparent = formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags })
        tracestate = sc.traceState?.serialize()
      } else if (ctx?.traceparent !== undefined && parseTraceparent(ctx.traceparent)?.traceId === e.meta.trace) {
        // Nothing recorded here: pass the caller's span on, as a proxy would.
        traceparent = ctx.traceparent
        tracestate = ctx.tracestate
      } else if (isTraceId(e.meta.trace)) {
        traceparent = formatTraceparent({ traceId: e.meta.trace, spanId: newSpanId(), flags: api.TraceFlags.NONE })
      }
      const sent: Envelope =
        traceparent === undefined
          ? e
          : {
              ...e,
              meta: {
                ...e.meta,
                traceparent,
                ...(tracestate === undefined || tracestate === '' ? {} : { tracestate }),
              },
            }
      if (!span.isRecording()) return next(sent, ctx)
      return next(sent, ctx).then(
        (reply) => {
          finish(span, reply.ok ? undefined : reply.error)
          return reply
        },
        (err: unknown) => {
          finish(span, err)
          throw err
        },
      )
    }
  }
}

/**
 * The tracing plugin. Load it first, so that its spans wrap the other plugins' hooks. Spans:
 * one per local act (`role:math,cmd:sum`, kind SERVER when it came from another process,
 * INTERNAL otherwise), per task or event handled (`process <name>`, CONSUMER), per act through
 * a client (`act <transport>`, CLIENT) and per task or event sent (`send <name>`, PRODUCER),
 * with `stoa.kind`, `stoa.pattern`, `stoa.service`, `stoa.outcome` (`ok` or the error code)
 * and `stoa.transport`.
 *
 * @example
 * const stoa = createStoa({ name: 'gateway' }).use(tracing).use(math)
 */
const tracing = definePlugin({
  name: 'tracing',
  options: tracingOptions,
  setup: (options, host) => {
    const state = new TracingState(host.name)
    return {
      hooks: { inbound: inbound(state), outbound: outbound(state) },
      init: async () => {
        state.start(await loadPeer<OtelApi>('@opentelemetry/api', 'stoa/tracing'), options.tracerName)
      },
    }
  },
})

export default tracing
