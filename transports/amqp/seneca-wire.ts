import { randomUUID } from 'node:crypto'
import type { ConsumeMessage } from 'amqplib'
import type { Envelope, Message, Pattern, Reply } from '../../actions/transport.js'
import { errorReply, isErrorCode, StoaError, unwritableResult } from '../../actions/transport.js'
import type { RequestCodec } from './client.js'
import type { Outgoing } from './wire.js'

/**
 * seneca-amqp-transport's wire format, so Seneca services using that plugin and stoa services
 * call each other: the one place that knows Seneca's names and message shape (its listener is
 * seneca-listen.ts, its client seneca-client.ts).
 *
 * Names (with `prefix`, default `seneca`, as seneca-amqp-transport's defaults):
 * - `P.topic`: topic exchange every request is published to, with the routing key made of the
 *   matching pin's pairs, keys sorted, as `key.value.key.value` (`cmd.sum.role.math`; a dot in
 *   a value is written `[:dot:]`).
 * - `P.add.<pins>`: a listener's queue (`seneca.add.role:math.cmd:sum`; `*` written `any`),
 *   durable, with `x-dead-letter-exchange: P.dlx` and `x-message-ttl: 60000`, bound with each
 *   pin's routing key.
 * - `P.dlx` (topic) and `P.dlq` bound with `#`: where unreadable requests go.
 *
 * A request body is `{ id: "<message>/<trace>", kind: "act", origin, track, time, act, sync }`,
 * `act` being the message (its `timeout$` carries the time left); its `reply-to` and
 * `correlation-id` properties say where the reply goes. The reply body is `{ id, kind: "res",
 * origin, accept, track, time, sync, res }`, or with `error: { message, name, code, details }`.
 *
 * Seneca has no tasks or events: this mode carries acts only (a task is refused with
 * `NOT_FOUND`, an event is accepted and goes nowhere). Unlike seneca-amqp-transport,
 * stoa acknowledges a request after replying, not before running it.
 */
export interface SenecaNames {
  readonly exchange: string
  readonly dlx: string
  readonly dlq: string
  readonly listenQueue: (pins: readonly Pattern[]) => string
}

/** The names derived from one prefix. */
export function senecaNames(prefix: string): SenecaNames {
  return {
    exchange: `${prefix}.topic`,
    dlx: `${prefix}.dlx`,
    dlq: `${prefix}.dlq`,
    listenQueue: (pins) => `${prefix}.add.${queueSuffix(pins)}`,
  }
}

/** A pin's routing key: its pairs with keys sorted, `key.value` joined by dots. */
export function senecaTopic(pin: Pattern): string {
  return Object.keys(pin)
    .sort()
    .flatMap((k) => [k, String(pin[k]).replace(/\./g, '[:dot:]')])
    .join('.')
}

/** A listener queue's name after its pins: pairs merged by key in first-seen order. */
function queueSuffix(pins: readonly Pattern[]): string {
  const merged = new Map<string, string[]>()
  for (const pin of pins) {
    for (const [k, v] of Object.entries(pin)) {
      const values = merged.get(k) ?? []
      if (!values.includes(String(v))) values.push(String(v))
      merged.set(k, values)
    }
  }
  return [...merged]
    .map(([k, values]) => `${k}:${values.length === 1 ? values[0]!.replace(/\*/g, 'any') : values.join('_')}`)
    .join('.')
}

/** The queue arguments seneca-amqp-transport declares a listener queue with; they must match. */
export function senecaListenQueueOptions(n: SenecaNames) {
  return { durable: true, arguments: { 'x-dead-letter-exchange': n.dlx, 'x-message-ttl': 60_000 } }
}

/** The content type of Seneca's requests and replies. */
export const JSON_TYPE = 'application/json'

/** Writes requests and reads replies in Seneca's format. `origin` names this client. */
export function senecaCodec(origin: string): RequestCodec {
  return {
    encode(e: Envelope, maxBodyBytes: number, now: number): Outgoing {
      const act: Message = { ...e.msg }
      if (e.meta.deadline !== undefined) act.timeout$ = Math.max(1, e.meta.deadline - now)
      const body = Buffer.from(
        JSON.stringify({
          id: `${e.meta.id}/${e.meta.trace}`,
          kind: 'act',
          origin,
          track: [origin],
          time: { client_sent: now },
          act,
          sync: true,
        }),
      )
      if (body.length > maxBodyBytes) {
        throw new StoaError('PAYLOAD_TOO_LARGE', `the message is ${body.length} bytes; the limit is ${maxBodyBytes}`)
      }
      const props: Outgoing['props'] = { contentType: JSON_TYPE }
      if (act.timeout$ !== undefined) props.expiration = String(act.timeout$)
      return { body, props }
    },
    decode(m: ConsumeMessage): Reply {
      let data: Record<string, unknown>
      try {
        data = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>
      } catch {
        return errorReply(new StoaError('ACTION_FAILED', 'the Seneca reply is not valid JSON'))
      }
      if (data === null || typeof data !== 'object' || data.kind !== 'res') {
        return errorReply(new StoaError('ACTION_FAILED', 'the Seneca reply is not a response'))
      }
      const error = data.error as Record<string, unknown> | undefined
      if (error !== undefined && error !== null) {
        // A stoa service answers with its own codes; anything else is Seneca's own failure,
        // whose message may carry internals, so only its code is kept.
        if (isErrorCode(error.code) && typeof error.message === 'string') {
          return errorReply(StoaError.fromJSON({ code: error.code, message: error.message, details: error.details }))
        }
        return errorReply(
          new StoaError('ACTION_FAILED', 'the Seneca action failed', { code: String(error.code ?? 'unknown') }),
        )
      }
      return { ok: true, out: data.res }
    },
  }
}

/**
 * Reads a request off a listener's queue: its JSON body, or `undefined` when it is not an
 * object (nothing to run, and no reply to make).
 */
export function readSenecaRequest(content: Buffer): Record<string, unknown> | undefined {
  let data: unknown
  try {
    data = JSON.parse(content.toString('utf8'))
  } catch {
    return undefined
  }
  return data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : undefined
}

/**
 * The act a request carries, as an envelope: the message without Seneca's `$` keys, the trace
 * from the request id (`<message>/<trace>`), the deadline from `timeout$` after `now` (the
 * instance's clock). Throws
 * `INVALID_MESSAGE` for a request that is not an act.
 */
export function senecaRequestEnvelope(data: Record<string, unknown>, now = Date.now()): Envelope {
  if (data.kind !== 'act' || data.act === null || typeof data.act !== 'object') {
    throw new StoaError('INVALID_MESSAGE', 'a Seneca request needs kind "act" and an act object')
  }
  const msg: Message = {}
  let timeout: number | undefined
  for (const [k, v] of Object.entries(data.act as Message)) {
    // `$` keys are Seneca's metadata, never part of a stoa message.
    if (k.endsWith('$')) {
      if (k === 'timeout$' && typeof v === 'number' && v > 0) timeout = v
    } else msg[k] = v
  }
  const id = typeof data.id === 'string' ? data.id : randomUUID()
  const slash = id.indexOf('/')
  return {
    kind: 'act',
    msg,
    meta: {
      id,
      trace: slash >= 0 ? id.slice(slash + 1) : id,
      deadline: timeout === undefined ? undefined : now + timeout,
      caller: 'seneca',
    },
  }
}

/** The reply body to a request, from the listener named `accept`: `res`, or `error`. */
export function senecaReplyBody(data: Record<string, unknown>, reply: Reply, accept: string): Buffer {
  const now = Date.now()
  const time = { ...(data.time as object | undefined), listen_recv: now, listen_sent: now }
  const res: Record<string, unknown> = {
    id: data.id,
    kind: 'res',
    origin: data.origin,
    accept,
    track: data.track,
    time,
    sync: data.sync ?? true,
  }
  if (reply.ok) res.res = reply.out
  else res.error = { ...reply.error, name: 'StoaError' }
  try {
    return Buffer.from(JSON.stringify(res))
  } catch (err) {
    // A result JSON cannot hold (a BigInt, a cycle) is the action's failure, answered as one.
    delete res.res
    res.error = { ...unwritableResult(err).toJSON(), name: 'StoaError' }
    return Buffer.from(JSON.stringify(res))
  }
}
