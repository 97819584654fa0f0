import { randomUUID } from 'node:crypto'
import type { Envelope, Message, Reply } from '../../actions/transport.js'
import { toStoaError, unwritableResult } from '../../actions/transport.js'
import type { EventProcessor, HandlerRuntime } from './processor.js'
import { fromAwsService, lambdaDeadline } from './processor.js'
import { decodeRequest, encodeReply, failure, isDirectRequest, thrownError } from './wire.js'

/**
 * Direct invocations: a stoa client's payload (see wire.ts), answered with a stoa reply for an
 * act and by throwing for a failed task or event (so Lambda retries it, then dead-letters it);
 * or a plain JSON message, run as an act, answered with the bare result, and failing as a
 * thrown `StoaError` whose message starts with its code.
 */
export const directProcessor: EventProcessor<Record<string, unknown>> = {
  kind: 'direct',
  matches(event) {
    // An object with AWS's marks that no processor recognised is an event this handler does
    // not serve, refused rather than run as a message.
    return isDirectRequest(event) || !fromAwsService(event)
  },
  async handle(event, context, rt) {
    const arrived = Date.now()
    const limit = lambdaDeadline(context, arrived, rt.settings.marginMs)
    if (isDirectRequest(event)) {
      let e: Envelope
      try {
        e = decodeRequest(event, arrived, limit)
      } catch (err) {
        const error = toStoaError(err).toJSON()
        rt.log.error(
          { code: error.code, reason: error.message, requestId: context?.awsRequestId },
          'malformed stoa payload',
        )
        // A task or event that cannot be read must fail, so that it reaches the dead-letter
        // queue; an act's caller waits for a reply.
        if (event.stoa !== null && typeof event.stoa === 'object' && (event.stoa as { kind?: unknown }).kind !== 'act')
          throw thrownError(error)
        return encodeReply({ ok: false, error })
      }
      const reply = await rt.host.dispatch(e)
      if (e.kind === 'act') return encodeReply(sendable(reply, rt, e))
      if (reply.ok) return encodeReply(reply)
      rt.log.error(
        {
          id: e.meta.id,
          trace: e.meta.trace,
          kind: e.kind,
          name: e.name,
          code: reply.error.code,
          reason: reply.error.message,
        },
        'task or event failed; Lambda will retry it',
      )
      throw thrownError(reply.error)
    }
    const id = context?.awsRequestId ?? randomUUID()
    const e: Envelope = { kind: 'act', msg: event as Message, meta: { id, trace: id, caller: 'lambda' } }
    if (limit !== undefined) e.meta.deadline = limit
    const reply = sendable(await rt.host.dispatch(e), rt, e)
    if (reply.ok) return reply.out
    throw thrownError(reply.error)
  },
}

/**
 * The reply, if its result can be returned through Lambda: JSON can hold it (else
 * `ACTION_FAILED`) and it fits Lambda's response limit (else `PAYLOAD_TOO_LARGE`). Costs one
 * serialization, which the runtime repeats; Lambda would otherwise answer an opaque
 * `Function.ResponseSizeTooLarge` with the action's work lost.
 */
function sendable(reply: Reply, rt: HandlerRuntime, e: Envelope): Reply {
  if (
    !reply.ok ||
    reply.out === undefined ||
    reply.out === null ||
    (typeof reply.out !== 'object' && typeof reply.out !== 'string')
  )
    return reply
  let bytes: number
  try {
    bytes = Buffer.byteLength(typeof reply.out === 'string' ? reply.out : JSON.stringify(reply.out))
  } catch (err) {
    rt.log.error({ id: e.meta.id, trace: e.meta.trace, err: String(err) }, 'the result cannot be written as JSON')
    return { ok: false, error: unwritableResult(err).toJSON() }
  }
  const max = rt.settings.maxResponseBytes
  return bytes > max
    ? failure('PAYLOAD_TOO_LARGE', `the result is ${bytes} bytes; Lambda returns at most ${max}`, { bytes, limit: max })
    : reply
}
