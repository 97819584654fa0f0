import type { Envelope, Message, Reply } from '../../actions/transport.js'
import { StoaError, toStoaError } from '../../actions/transport.js'
import type { EventProcessor, HandlerRuntime } from './processor.js'
import { assertSubscribed, fromAwsService, lambdaDeadline } from './processor.js'
import { decodeRequest, isDirectRequest } from './wire.js'

/*
 * SQS batches: each record is a task (or an event), named either by message attributes or by
 * a stoa payload in its body:
 *
 *   attribute `stoa-task`  (String)  the task name: the body is the task's data, as JSON
 *   attribute `stoa-event` (String)  the event name, instead of a task
 *   attribute `stoa-trace` (String)  the trace id (default: the SQS message id)
 *   attribute `stoa-token` (String)  the caller's identity token
 *
 *   or a body that is a direct-invocation request (wire.ts) of kind `send` or `emit`;
 *   or a body that is an EventBridge event (a rule's SQS target): `detail-type` names the event;
 *   or a body that is a plain message (`{"role":"math","cmd":"sum","left":1,"right":1}`), run
 *   as an act, as a direct invocation runs one: its result is discarded, since nobody waits for
 *   it, and its failure fails that record alone. `stoa-trace` and `stoa-token` apply to it.
 *
 * The answer is a partial batch response: the ids of the records that failed, so that only
 * they return to the queue (and, after maxReceiveCount, to its dead-letter queue). The event
 * source mapping must have `FunctionResponseTypes: [ReportBatchItemFailures]`; without it
 * Lambda ignores the answer and deletes the whole batch.
 * See https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
 */

/** The message attributes stoa reads on an SQS record. */
export const SQS_ATTRIBUTES = {
  task: 'stoa-task',
  event: 'stoa-event',
  trace: 'stoa-trace',
  token: 'stoa-token',
} as const

/** The parts of an SQS record read here. */
interface SqsRecord {
  messageId: string
  body: string
  messageAttributes?: Record<string, { stringValue?: string; dataType?: string } | undefined>
  eventSourceARN?: string
}

interface SqsEvent {
  Records: SqsRecord[]
}

/** SQS batches, answered with `{ batchItemFailures }`. Never throws for a batch. */
export const sqsProcessor: EventProcessor<SqsEvent> = {
  kind: 'sqs',
  matches(e) {
    const records = e.Records
    return (
      Array.isArray(records) &&
      records.length > 0 &&
      (records[0] as { eventSource?: unknown } | null)?.eventSource === 'aws:sqs'
    )
  },
  async handle(event, context, rt) {
    const arrived = Date.now()
    const limit = lambdaDeadline(context, arrived, rt.settings.marginMs)
    const records = event.Records
    const failed: string[] = []
    if (records[0]?.eventSourceARN?.endsWith('.fifo') === true) {
      // FIFO: order matters, so the records run one after another; after a failure the rest
      // are not run and all return to the queue, to be retried in order (AWS's rule for FIFO).
      for (let i = 0; i < records.length; i++) {
        if (!(await runRecord(records[i]!, arrived, limit, rt))) {
          for (const r of records.slice(i)) failed.push(r.messageId)
          break
        }
      }
    } else {
      const ok = await Promise.all(records.map((r) => runRecord(r, arrived, limit, rt)))
      ok.forEach((done, i) => {
        if (!done) failed.push(records[i]!.messageId)
      })
    }
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) }
  },
}

/** Runs one record; resolves with whether it succeeded, logging why not. Never rejects. */
async function runRecord(
  record: SqsRecord,
  arrived: number,
  limit: number | undefined,
  rt: HandlerRuntime,
): Promise<boolean> {
  let reply: Reply
  let e: Envelope | undefined
  try {
    e = recordEnvelope(record, arrived, limit, rt.settings.events)
    if (e.kind === 'emit') assertSubscribed(rt.host, e.name!)
    reply = await rt.host.dispatch(e)
  } catch (err) {
    reply = { ok: false, error: toStoaError(err).toJSON() }
  }
  if (reply.ok) return true
  rt.log.error(
    {
      messageId: record.messageId,
      name: e?.name,
      trace: e?.meta.trace,
      code: reply.error.code,
      reason: reply.error.message,
    },
    'SQS record failed; it returns to the queue',
  )
  return false
}

/**
 * The envelope a record carries: a task, an event, or (a plain message) an act. Throws
 * `INVALID_MESSAGE` / `INVALID_JSON` for one it cannot read.
 */
export function recordEnvelope(
  record: SqsRecord,
  arrived: number,
  limit: number | undefined,
  events: Readonly<Record<string, string>> = {},
): Envelope {
  const attrs = record.messageAttributes ?? {}
  const attr = (name: string): string | undefined => {
    const v = attrs[name]?.stringValue
    return v === undefined || v === '' ? undefined : v
  }
  const task = attr(SQS_ATTRIBUTES.task)
  const event = attr(SQS_ATTRIBUTES.event)
  let body: unknown
  try {
    body = record.body === '' ? {} : JSON.parse(record.body)
  } catch {
    throw new StoaError('INVALID_JSON', 'the SQS message body is not valid JSON')
  }
  if (task === undefined && event === undefined) {
    if (isDirectRequest(body)) {
      const e = decodeRequest(body, arrived, limit)
      if (e.kind === 'act')
        throw new StoaError('INVALID_MESSAGE', 'an act cannot travel over SQS: nobody waits for its reply')
      return e
    }
    // An EventBridge rule with an SQS target puts the whole event in the body: read it as the
    // EventBridge processor does, `detail-type` naming the event.
    if (isBridgeEvent(body)) {
      const detailType = body['detail-type']
      const name = Object.hasOwn(events, detailType) ? events[detailType]! : detailType
      if (body.detail === null || typeof body.detail !== 'object' || Array.isArray(body.detail))
        throw new StoaError('INVALID_MESSAGE', 'the EventBridge detail must be a JSON object')
      const e: Envelope = {
        kind: 'emit',
        name,
        msg: body.detail as Message,
        meta: { id: record.messageId, trace: record.messageId, caller: 'eventbridge' },
      }
      if (limit !== undefined) e.meta.deadline = limit
      return e
    }
    // Anything else that is a JSON object and no AWS notification (S3, SNS) is a message.
    if (body === null || typeof body !== 'object' || Array.isArray(body) || fromAwsService(body as Message))
      throw new StoaError(
        'INVALID_MESSAGE',
        `the SQS message names no task: set the ${SQS_ATTRIBUTES.task} (or ${SQS_ATTRIBUTES.event}) message attribute, or send a JSON message`,
      )
    return withAttributes({ kind: 'act', msg: body as Message, meta: { id: record.messageId, trace: '' } }, attr, limit)
  }
  if (task !== undefined && event !== undefined)
    throw new StoaError(
      'INVALID_MESSAGE',
      `the SQS message has both ${SQS_ATTRIBUTES.task} and ${SQS_ATTRIBUTES.event}`,
    )
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new StoaError('INVALID_MESSAGE', 'the SQS message body must be a JSON object')
  const e: Envelope = {
    kind: task !== undefined ? 'send' : 'emit',
    name: (task ?? event)!,
    msg: body as Message,
    meta: { id: record.messageId, trace: '' },
  }
  return withAttributes(e, attr, limit)
}

/** Fills an envelope's trace (the SQS message id without `stoa-trace`), token, caller and deadline. */
function withAttributes(e: Envelope, attr: (name: string) => string | undefined, limit: number | undefined): Envelope {
  e.meta.trace = attr(SQS_ATTRIBUTES.trace) ?? e.meta.id
  e.meta.caller = 'sqs'
  const token = attr(SQS_ATTRIBUTES.token)
  if (token !== undefined) e.meta.token = token
  if (limit !== undefined) e.meta.deadline = limit
  return e
}

function isBridgeEvent(body: unknown): body is { 'detail-type': string; source: string; detail: unknown } {
  const b = body as Record<string, unknown> | null
  return (
    b !== null &&
    typeof b === 'object' &&
    typeof b['detail-type'] === 'string' &&
    typeof b.source === 'string' &&
    Object.hasOwn(b, 'detail')
  )
}
