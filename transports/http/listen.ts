import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, Server, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { createServer as createHttpsServer } from 'node:https'
import type { Envelope, Message, Reply, StoaErrorJSON, TransportHost } from '../../actions/transport.js'
import { errorReply, listenOn, StoaError, toStoaError, unwritableResult } from '../../actions/transport.js'
import type { ResolvedHttpOptions } from './options.js'
import { isSenecaRequest, senecaEnvelope, senecaResponseHeaders, senecaResultBody } from './seneca-compat.js'
import { envelopeOf, errorResponse, isStoaRequest, replyResponse } from './wire.js'

/** A listening HTTP server for one stoa instance. */
export interface HttpListener {
  /** The base URL it listens on. */
  readonly url: string
  /**
   * Stops listening: new connections are refused, idle kept-alive ones closed, and the answers
   * still to come go out with `Connection: close`, so no caller reuses a connection that is
   * about to go.
   */
  stopAccepting(): void
  /** Stops accepting, lets answers in progress finish, and closes every connection. */
  close(): Promise<void>
}

/** The probe paths every listener answers, beside its `path`: alive, and ready to take work. */
const ALIVE_PATH = '/healthz'
const READY_PATH = '/readyz'

/** `application/json` and `...+json`, with or without parameters. */
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/**
 * Starts the listener: `POST <path>` with a JSON message in, the reply out. Built on
 * `node:http` alone (`node:https` with the `tls` option, same handler), so a request costs
 * little more than on a bare server. Requests from Seneca clients are recognised by their
 * headers and answered in Seneca's format.
 */
export async function startListener(host: TransportHost, settings: ResolvedHttpOptions): Promise<HttpListener> {
  const state: ListenerState = { stopping: false }
  const handler: RequestListener = (req, res) => onRequest(host, settings, state, req, res)
  const tls = settings.tls
  const server: Server | HttpsServer =
    tls === undefined
      ? createServer({ keepAliveTimeout: settings.keepAliveMs }, handler)
      : createHttpsServer({ keepAliveTimeout: settings.keepAliveMs, key: tls.key, cert: tls.cert }, handler)
  const at = await listenOn(server, settings.port, settings.host)
  let stopped: Promise<void> | undefined
  const stopAccepting = (): Promise<void> => {
    state.stopping = true
    // close() stops listening at once and resolves when the last connection has gone; kept-alive
    // connections that are idle now would otherwise hold it open until their timeout.
    stopped ??= new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    return stopped
  }
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${at}`,
    stopAccepting: () => void stopAccepting(),
    close: () => closeServer(server, stopAccepting()),
  }
}

/** What requests need to know of their listener. */
interface ListenerState {
  /** Set when the listener stops accepting: answers from then on close their connection. */
  stopping: boolean
}

function onRequest(
  host: TransportHost,
  settings: ResolvedHttpOptions,
  state: ListenerState,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  // The caller's time budget runs from here: reading the body is part of the call's time.
  const arrived = Date.now()
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (
    path !== settings.path &&
    (req.method === 'GET' || req.method === 'HEAD') &&
    (path === ALIVE_PATH || path === READY_PATH)
  ) {
    probe(host, req, res, path === READY_PATH)
    return
  }
  const endpoint = settings.endpoints[path]
  if (endpoint !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
    endpoint(req, res)
    return
  }
  if (path !== settings.path) {
    answerError(res, {
      code: 'NOT_FOUND',
      message: `no listener at ${q < 0 ? url : url.slice(0, q)}; post to ${settings.path}`,
    })
    return
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST')
    answerError(res, { code: 'NOT_FOUND', message: `${String(req.method)} is not answered here; use POST` })
    return
  }
  const ctype = req.headers['content-type']
  const length = req.headers['content-length']
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  if (hasBody && (ctype === undefined || !JSON_MEDIA.test(ctype))) {
    answerError(res, { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'the request body must be application/json' }, true)
    return
  }
  if (length !== undefined && Number(length) > settings.maxBodyBytes) {
    answerError(res, tooLarge(settings.maxBodyBytes), true)
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  let refused = false
  req.on('data', (chunk: Buffer) => {
    if (refused) return
    size += chunk.length
    if (size > settings.maxBodyBytes) {
      refused = true
      answerError(res, tooLarge(settings.maxBodyBytes), true)
      return
    }
    chunks.push(chunk)
  })
  req.on('end', () => {
    if (refused) return
    const text =
      chunks.length === 0
        ? ''
        : chunks.length === 1
          ? chunks[0]!.toString('utf8')
          : Buffer.concat(chunks).toString('utf8')
    handle(host, state, req, res, text, arrived)
  })
  // A client that goes away mid-body leaves nothing to answer.
  req.on('error', () => res.destroy())
}

function handle(
  host: TransportHost,
  state: ListenerState,
  req: IncomingMessage,
  res: ServerResponse,
  text: string,
  arrived: number,
): void {
  const seneca = !isStoaRequest(req.headers) && isSenecaRequest(req.headers)
  let e: Envelope
  try {
    const msg = parseMessage(text)
    e = seneca ? senecaEnvelope(req.headers, msg) : envelopeOf(req.headers, msg, arrived)
  } catch (err) {
    const error = toStoaError(err).toJSON()
    if (seneca) answerSeneca(res, req, host.service, { ok: false, error })
    else answerError(res, error)
    return
  }
  host.dispatch(e).then((reply) => {
    if (res.destroyed) return
    // The listener began closing while this ran: the caller must not reuse the connection.
    if (state.stopping) res.setHeader('connection', 'close')
    try {
      answer(res, req, host.service, seneca, e, reply)
    } catch (err) {
      // The result cannot be written as JSON (a BigInt, a cycle): nothing is sent yet, so the
      // caller gets ACTION_FAILED and the log the reason, rather than the process crashing.
      host.log.error({ id: e.meta.id, trace: e.meta.trace, err: String(err) }, 'the result cannot be written as JSON')
      answer(res, req, host.service, seneca, e, errorReply(unwritableResult(err)))
    }
  })
}

function answer(
  res: ServerResponse,
  req: IncomingMessage,
  service: string,
  seneca: boolean,
  e: Envelope,
  reply: Reply,
): void {
  if (seneca) answerSeneca(res, req, service, reply)
  else {
    const out = replyResponse(e, reply)
    res.writeHead(out.status, out.headers)
    res.end(out.body)
  }
}

/**
 * Answers an orchestrator's probe: `/healthz` 200 while the process answers at all, `/readyz`
 * 200 when the instance can take work and 503 when it cannot, with the verdict of each check.
 */
function probe(host: TransportHost, req: IncomingMessage, res: ServerResponse, ready: boolean): void {
  const answer = (status: number, out: unknown): void => {
    if (res.destroyed) return
    const body = JSON.stringify(out)
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  if (!ready) {
    answer(200, { alive: true })
    return
  }
  host.readiness().then((r) => answer(r.ready ? 200 : 503, r))
}

/** The message of a request body: a JSON object, or an empty message for an empty body. */
function parseMessage(text: string): Message {
  if (text === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new StoaError('INVALID_JSON', 'the request body is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StoaError('INVALID_MESSAGE', 'the request body must be a JSON object')
  }
  return value as Message
}

function answerSeneca(res: ServerResponse, req: IncomingMessage, service: string, reply: Reply): void {
  const headers: OutgoingHttpHeaders = senecaResponseHeaders(req.headers, service)
  let status = 200
  let body: string
  if (reply.ok) body = senecaResultBody(reply.out)
  else {
    const out = errorResponse(reply.error)
    status = out.status
    body = out.body
  }
  headers['content-type'] = 'application/json'
  headers['content-length'] = Buffer.byteLength(body)
  res.writeHead(status, headers)
  res.end(body)
}

function answerError(res: ServerResponse, error: StoaErrorJSON, close = false): void {
  const out = errorResponse(error)
  // The rest of a refused body is not read: close rather than parse it as the next request.
  if (close) out.headers.connection = 'close'
  res.writeHead(out.status, out.headers)
  res.end(out.body)
}

function tooLarge(max: number): StoaErrorJSON {
  return { code: 'PAYLOAD_TOO_LARGE', message: `the request body is over ${max} bytes`, details: { maxBodyBytes: max } }
}

async function closeServer(server: Server | HttpsServer, stopped: Promise<void>): Promise<void> {
  // The kernel has drained its work before closing transports: what is left are idle
  // keep-alive connections, and answers being written, which get two seconds to finish.
  server.closeIdleConnections()
  const force = setTimeout(() => server.closeAllConnections(), 2000)
  force.unref()
  await stopped
  clearTimeout(force)
}
