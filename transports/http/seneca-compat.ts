import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Envelope, EnvelopeMeta, Message, Reply, StoaErrorJSON } from '../../actions/transport.js'
import { isErrorCode } from '../../actions/transport.js'
import { bearer, failure } from './wire.js'

/*
 * Seneca's HTTP wire (seneca-transport lib/http.js, `type: 'http'`), the only place stoa knows
 * it. What a Seneca client sends: `POST /act` with `connection: close`, the message as the JSON
 * body plus Seneca directives (`custom$`, any `...$` key), and headers `seneca-id: <msg>/<tx>`,
 * `seneca-origin: <instance id>`, `seneca-kind: req`, `seneca-track: [json list]`,
 * `seneca-time-client-sent`. What it expects back: `seneca-id` and `seneca-origin` echoed (it
 * drops an answer whose origin is not its own, then times out), `seneca-kind: res`, the result
 * as JSON with 200, or an error object with any other status; its HTTP client then fails with
 * a Boom error whose `data.payload` holds that object. A Seneca listener answers errors with
 * 500 (or the error's `statusCode`) and a body such as
 * `{ code: 'act_execute', message, orig: { code, details }, details: { message, ... } }`.
 */

const SENECA_ID = 'seneca-id'
const SENECA_ORIGIN = 'seneca-origin'
const SENECA_KIND = 'seneca-kind'
const SENECA_TRACK = 'seneca-track'
/** Seneca ids are short base-36 words; anything else is replaced rather than trusted. */
const SENECA_WORD = /^[\w.:@-]{1,200}$/

/** Whether a request comes from Seneca's HTTP transport. */
export function isSenecaRequest(headers: IncomingHttpHeaders): boolean {
  return headers[SENECA_ID] !== undefined
}

/**
 * The envelope of a Seneca request: `seneca-id` gives the message id and, after its `/`, the
 * transaction id, which becomes the trace. Directives ending in `$` are Seneca's metadata and
 * are dropped from the message. Seneca sends no deadline: the service's default applies.
 */
export function senecaEnvelope(headers: IncomingHttpHeaders, body: Message): Envelope {
  const [mi, tx] = String(headers[SENECA_ID]).split('/', 2)
  const id = mi !== undefined && SENECA_WORD.test(mi) ? mi : randomUUID()
  const trace = tx !== undefined && SENECA_WORD.test(tx) ? tx : id
  const meta: EnvelopeMeta = { id, trace, caller: 'seneca' }
  // A Seneca client can send an identity token through its `headers` option.
  const token = bearer(headers.authorization)
  if (token !== undefined) meta.token = token
  const msg: Message = {}
  for (const key of Object.keys(body)) if (!key.endsWith('$')) msg[key] = body[key]
  return { kind: 'act', msg, meta }
}

/** The headers a Seneca client needs on its answer, or it discards the answer. */
export function senecaResponseHeaders(req: IncomingHttpHeaders, service: string): OutgoingHttpHeaders {
  return {
    [SENECA_ID]: String(req[SENECA_ID]),
    [SENECA_KIND]: 'res',
    [SENECA_ORIGIN]: String(req[SENECA_ORIGIN] ?? 'UNKNOWN'),
    'seneca-accept': service,
    [SENECA_TRACK]: '',
    'seneca-time-client-sent': '0',
    'seneca-time-listen-recv': '0',
    'seneca-time-listen-sent': '0',
  }
}

/**
 * The body of a successful answer to a Seneca client: the result as JSON, `null` when there is
 * none, as Seneca's own listener answers. (A Seneca client only keeps object results.)
 */
export function senecaResultBody(out: unknown): string {
  return out === undefined ? 'null' : JSON.stringify(out)
}

/**
 * The header a stoa client adds so that a Seneca listener keeps the call's trace as its
 * transaction id (`tx$`) and echoes the message id.
 */
export function senecaRequestHeaders(meta: EnvelopeMeta): OutgoingHttpHeaders {
  return { [SENECA_ID]: `${meta.id}/${meta.trace}` }
}

/** Whether an answer comes from a Seneca listener. */
export function isSenecaResponse(headers: IncomingHttpHeaders): boolean {
  return headers[SENECA_KIND] === 'res'
}

/** Seneca's own error codes that have a stoa counterpart. */
const SENECA_CODES: Readonly<Record<string, StoaErrorJSON['code']>> = {
  act_not_found: 'NOT_FOUND',
  act_invalid_msg: 'INVALID_MESSAGE',
  act_timeout: 'TIMEOUT',
  ETIMEDOUT: 'TIMEOUT',
  invalid_json: 'INVALID_JSON',
}

/**
 * Reads a Seneca listener's answer. An error whose original (`orig`) carries a stoa code keeps
 * its code, message and details, so `err.code` survives a Seneca hop; Seneca's own codes map to
 * stoa's (`act_not_found` is `NOT_FOUND`); anything else is `ACTION_FAILED` with Seneca's code
 * in `details.seneca` and without Seneca's message, which quotes the thrown error.
 */
export function senecaReply(status: number, body: string): Reply {
  let data: unknown
  try {
    data = body === '' ? null : JSON.parse(body)
  } catch {
    return failure('ACTION_FAILED', 'the Seneca listener answered with invalid JSON')
  }
  if (status === 200) return { ok: true, out: data ?? undefined }
  const err = (data !== null && typeof data === 'object' ? data : {}) as Record<string, unknown>
  const orig = object(err.orig)
  const details = object(err.details)
  if (orig !== undefined && isErrorCode(orig.code)) {
    const message =
      typeof details?.message === 'string' ? details.message : String(err.message ?? 'remote action failed')
    const extra = object(orig.details)
    return failure(orig.code, message, extra)
  }
  if (isErrorCode(err.code)) return failure(err.code, String(err.message ?? 'remote action failed'), details)
  const code = typeof err.code === 'string' ? err.code : undefined
  const mapped = code === undefined ? undefined : SENECA_CODES[code]
  if (mapped !== undefined) return failure(mapped, `the Seneca service answered ${code}`, { seneca: code })
  if (status === 503 || status === 502) return failure('UNAVAILABLE', `the Seneca service answered ${status}`)
  return failure('ACTION_FAILED', 'the Seneca action failed', code === undefined ? undefined : { seneca: code })
}

function object(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}
