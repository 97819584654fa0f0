import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, Server, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { createServer as createHttpsServer } from 'node:https'
import type { Envelope, Message, Reply, ServerCloser, StoaErrorJSON, TransportHost } from '../../actions/transport.js'
import {
  errorReply,
  listenOn,
  methodNotAllowed,
  parseJsonObject,
  probeResponse,
  readBody,
  sendResponse,
  serverCloser,
  toStoaError,
  unwritableResult,
} from '../../actions/transport.js'
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

/**
 * Starts the listener: `POST <path>` with a JSON message in, the reply out. Built on
 * `node:http` alone (`node:https` with the `tls` option, same handler), so a request costs
 * little more than on a bare server. Requests from Seneca clients are recognised by their
 * headers and answered in Seneca's format.
 */
export async function startListener(host: TransportHost, settings: ResolvedHttpOptions): Promise<HttpListener> {
  const tls = settings.tls
  // Requests read the closer (answers close their connection once it stops accepting); none
  // comes before the server listens, by when it is set.
  const handler: RequestListener = (req, res) => onRequest(host, settings, closer, req, res)
  const server: Server | HttpsServer =
    tls === undefined
      ? createServer({ keepAliveTimeout: settings.keepAliveMs }, handler)
      : createHttpsServer({ keepAliveTimeout: settings.keepAliveMs, key: tls.key, cert: tls.cert }, handler)
  // The kernel has drained its work before closing transports: what is left are idle
  // keep-alive connections, and answers being written, which get the kit's grace to finish.
  const closer = serverCloser(server)
  const at = await listenOn(server, settings.port, settings.host)
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${at}`,
    stopAccepting: () => void closer.stopAccepting(),
    close: () => closer.close(),
  }
}

function onRequest(
  host: TransportHost,
  settings: ResolvedHttpOptions,
  state: ServerCloser,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  // The caller's time budget runs from here: reading the body is part of the call's time.
  const arrived = Date.now()
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (path !== settings.path) {
    const probe = probeResponse(host, req.method, path)
    if (probe !== undefined) {
      void probe.then((answer) => sendResponse(res, answer))
      return
    }
    const endpoint = settings.endpoints[path]
    if (endpoint !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      endpoint(req, res)
      return
    }
    answerError(res, { code: 'NOT_FOUND', message: `no listener at ${path}; post to ${settings.path}` })
    return
  }
  if (req.method !== 'POST') {
    answerError(res, methodNotAllowed(String(req.method), path, ['POST']).toJSON())
    return
  }
  readBody(req, settings.maxBodyBytes).then(
    (raw) => handle(host, state, req, res, raw.length === 0 ? '' : raw.toString('utf8'), arrived),
    // The rest of a refused body is not read: close rather than parse it as the next request.
    (err: unknown) => answerError(res, toStoaError(err).toJSON(), true),
  )
}

function handle(
  host: TransportHost,
  state: ServerCloser,
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

/** The message of a request body: a JSON object, or an empty message for an empty body. */
function parseMessage(text: string): Message {
  return text === '' ? {} : (parseJsonObject(text) as Message)
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
  if (res.destroyed) return
  const out = errorResponse(error)
  // The rest of a refused body is not read: close rather than parse it as the next request.
  if (close) out.headers.connection = 'close'
  res.writeHead(out.status, out.headers)
  res.end(out.body)
}
