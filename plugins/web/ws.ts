import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket, WebSocketServer } from 'ws'
import type { UpgradeHandler } from '../../actions/index.js'
import { patternString, StoaError, toPattern } from '../../actions/index.js'
import type {
  HttpHeaders,
  HttpRequest,
  RequestBody,
  RouteSource,
  ServedRoute,
  StreamOpen,
  WebHost,
  WebOutcome,
  WebPipeline,
  WebResponse,
} from '../../actions/transport.js'
import { createWebPipeline, errorResponse, loadPeer, Sweeper, toStoaError, webRoutes } from '../../actions/transport.js'
import type { OpenStreams } from './stream.js'
import { isRecords, isStream, mappedClient } from './stream.js'

type WsModule = typeof import('ws')

/** Where the plugins' own WebSocket upgrades come from: `stoa.httpParts()`. */
interface UpgradeSource {
  httpParts(): { upgrades: Record<string, UpgradeHandler> }
}

/** Acts one WebSocket connection may have running at once; more are answered `OVERLOADED`. */
const MAX_ACTS_IN_FLIGHT = 16
/** Bad frames (not JSON, not a request) a connection may send before it is closed. */
const MAX_BAD_FRAMES = 10

/**
 * The `ws` package, loaded when a server first has a stream route.
 * @internal
 */
export function loadWs(): Promise<WsModule> {
  return loadPeer<WsModule>('ws', 'stoa/web')
}

/**
 * Serves the WebSocket side of the stream routes on a node:http server you run (the one your
 * express app listens on, with {@link mountWeb} giving the server-sent events side): upgrades
 * on a stream route's path open a socket, a path a plugin takes (`http.upgrades`: the GraphQL
 * plugin's) goes to that plugin, others get 404. `serveWeb` does this by itself.
 * Resolves with the function that ends every socket it opened.
 *
 * @example
 * const server = app.listen(3000)
 * const sockets = await upgradeWeb(stoa, server)
 * // later: sockets.close(); server.close()
 */
export async function upgradeWeb(
  stoa: WebHost & RouteSource & Partial<UpgradeSource>,
  server: Server,
): Promise<{ close(): void }> {
  const pipeline = createWebPipeline<HttpRequest>(stoa, await webRoutes(stoa), { streams: true })
  const held: OpenStreams = new Set()
  server.on('upgrade', upgradeHandler(stoa, pipeline, await loadWs(), held, stoa.httpParts?.().upgrades))
  return {
    close: () => {
      for (const end of [...held]) end()
    },
  }
}

/**
 * Answers WebSocket upgrades for the stream routes of `pipeline` on a node:http server's
 * `upgrade` event: the `Origin` is checked against the route's allowed origins (a browser on
 * another site must not ride the visitor's login cookie: cross-site WebSocket hijacking), then
 * the route's checks run as for any request (identity, the connection limit, its `open`
 * action). A refusal is an HTTP answer with the usual JSON error; an upgrade on any other path
 * is 404.
 *
 * On the socket the server sends `{ type: 'event', id, event, data }` frames. A client may act
 * on the actions the service's web routes expose, with its identity: `{ id, act: 'pattern',
 * msg }` is answered `{ type: 'reply', id, ok: true, out }` or `{ type: 'reply', id, ok: false,
 * error: { code, message, details } }`, the same codes as over HTTP.
 * @internal
 */
export function upgradeHandler(
  stoa: WebHost,
  pipeline: WebPipeline<HttpRequest>,
  ws: WsModule,
  held: OpenStreams,
  upgrades: Readonly<Record<string, UpgradeHandler>> = {},
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const servers = new Map<number, WebSocketServer>()
  const actable = new Set(pipeline.routes.filter((r) => r.stream === undefined).map((r) => r.pattern))
  const serverFor = (maxPayload: number): WebSocketServer => {
    let s = servers.get(maxPayload)
    if (s === undefined) {
      s = new ws.WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false })
      servers.set(maxPayload, s)
    }
    return s
  }
  return (req, socket, head) => {
    socket.on('error', () => undefined)
    const r = new UpgradeRequest(req)
    // A plugin's own upgrade (a GraphQL subscription endpoint) takes its path first.
    const taken = Object.hasOwn(upgrades, r.path) ? upgrades[r.path] : undefined
    if (taken !== undefined) return taken(req, socket, head)
    let route: ServedRoute | undefined
    try {
      route = pipeline.find('GET', r.path)?.route
    } catch (err) {
      return refuse(socket, errorResponse(err))
    }
    if (route?.stream === undefined)
      return refuse(socket, errorResponse(new StoaError('NOT_FOUND', `no stream at ${r.path}`)))
    const bad = checkOrigin(req.headers, route.stream.allowedOrigins)
    if (bad !== undefined) return refuse(socket, errorResponse(bad))
    const settle = (out: WebOutcome) => {
      if (typeof out === 'string') return refuse(socket, errorResponse(new StoaError('NOT_FOUND', 'no stream here')))
      // A route's own event stream answers only a POST asking for one, never an upgrade.
      if (isRecords(out)) return refuse(socket, errorResponse(new StoaError('NOT_FOUND', 'no stream here')))
      if (!isStream(out)) return refuse(socket, out)
      serverFor(out.route.stream!.maxFrameBytes).handleUpgrade(req, socket, head, (conn) =>
        attach(stoa, conn, out, actable, held),
      )
    }
    const out = pipeline.handle(r)
    if (out instanceof Promise) out.then(settle, () => socket.destroy())
    else settle(out)
  }
}

/** One accepted WebSocket: events out, heartbeats, slow-client and flood limits, acts in. */
function attach(stoa: WebHost, conn: WebSocket, open: StreamOpen, actable: ReadonlySet<string>, held: OpenStreams) {
  const s = open.route.stream!
  let alive = true
  let acts = 0
  let bad = 0
  let leave: (() => void) | undefined
  const end = (code = 1001, why = 'going away'): void => {
    beat.stop()
    leave?.()
    leave = undefined
    held.delete(end)
    if (conn.readyState === conn.OPEN || conn.readyState === conn.CONNECTING) conn.close(code, why)
  }
  const send = (frame: unknown): void => {
    if (conn.readyState !== conn.OPEN) return
    if (conn.bufferedAmount > s.maxBufferedBytes) {
      stoa.log.warn({ route: open.route.path, buffered: conn.bufferedAmount }, 'a slow stream client was dropped')
      beat.stop()
      leave?.()
      held.delete(end)
      conn.terminate()
      return
    }
    conn.send(JSON.stringify(frame))
  }
  // On the instance's clock: under a virtual one a ping goes out when the test moves time.
  const beat = new Sweeper(
    s.heartbeatMs,
    () => {
      // No pong since the last ping: the peer is gone without a close; free its place.
      if (!alive) {
        conn.terminate()
        return false
      }
      alive = false
      conn.ping()
      return true
    },
    stoa.clock,
  )
  beat.arm()
  conn.on('pong', () => {
    alive = true
  })
  conn.on('close', () => end())
  conn.on('error', () => end(1011, 'error'))
  const badFrame = (error: StoaError, id?: unknown): void => {
    send({ type: 'reply', id: id ?? null, ok: false, error: error.toJSON() })
    if (++bad > MAX_BAD_FRAMES) end(1008, 'too many bad frames')
  }
  conn.on('message', (data, isBinary) => {
    if (isBinary) return badFrame(new StoaError('UNSUPPORTED_MEDIA_TYPE', 'frames must be JSON text'))
    let frame: unknown
    try {
      frame = JSON.parse(String(data))
    } catch {
      return badFrame(new StoaError('INVALID_JSON', 'the frame is not valid JSON'))
    }
    const f = frame as { id?: unknown; act?: unknown; msg?: unknown } | null
    if (f === null || typeof f !== 'object' || Array.isArray(f) || typeof f.act !== 'string')
      return badFrame(new StoaError('INVALID_MESSAGE', 'a request frame is { id, act, msg }'))
    const id = typeof f.id === 'string' || typeof f.id === 'number' ? f.id : null
    const msg = f.msg === undefined ? {} : f.msg
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
      return badFrame(new StoaError('INVALID_MESSAGE', 'msg must be a JSON object'), id)
    let pattern: string
    try {
      pattern = patternString(toPattern(f.act))
    } catch (err) {
      return badFrame(toStoaError(err), id)
    }
    if (!actable.has(pattern))
      return badFrame(new StoaError('NOT_FOUND', `"${f.act}" is not an action this service's routes expose`), id)
    if (acts >= MAX_ACTS_IN_FLIGHT)
      return send({
        type: 'reply',
        id,
        ok: false,
        error: new StoaError('OVERLOADED', 'too many requests in flight on this connection', {
          retryAfterMs: 100,
        }).toJSON(),
      })
    acts++
    stoa.act(pattern, msg as Record<string, unknown>, { ...open.opts, id: undefined }).then(
      (out) => {
        acts--
        send({ type: 'reply', id, ok: true, out })
      },
      (err: unknown) => {
        acts--
        send({ type: 'reply', id, ok: false, error: toStoaError(err).toJSON() })
      },
    )
  })
  held.add(end)
  const client = mappedClient(
    stoa,
    open,
    (e, data) => send({ type: 'event', id: e.id, event: e.name, data }),
    (why) => end(1008, why),
  )
  leave = s.source.join(client, open.lastEventId)
}

/**
 * Whether a WebSocket upgrade may come from its `Origin`: one of `allowed`, or with none
 * listed this host itself. A request with no Origin is not a browser's (browsers always send
 * it on a WebSocket) and is let through: identity still decides what it may see.
 */
export function checkOrigin(headers: HttpHeaders, allowed: readonly string[]): StoaError | undefined {
  const origin = typeof headers.origin === 'string' ? headers.origin : undefined
  if (origin === undefined) return undefined
  if (allowed.length > 0 ? allowed.includes(origin) : sameHost(origin, headers.host)) return undefined
  return new StoaError('FORBIDDEN', `a WebSocket from origin ${origin} is not allowed`, { origin })
}

function sameHost(origin: string, host: string | readonly string[] | undefined): boolean {
  if (typeof host !== 'string') return false
  try {
    return new URL(origin).host === host
  } catch {
    return false
  }
}

/** Writes an HTTP answer on a socket that asked to upgrade, and closes it. */
function refuse(socket: Duplex, answer: WebResponse): void {
  if (!socket.writable) return void socket.destroy()
  const body = answer.body === undefined ? '' : String(answer.body)
  const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
  const lines = [`HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? 'Error'}`]
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`)
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`)
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** An upgrade request as the web pipeline reads it: a GET with no body. */
class UpgradeRequest implements HttpRequest {
  readonly method = 'GET'
  readonly path: string
  readonly query: string | undefined
  readonly headers: HttpHeaders

  constructor(req: IncomingMessage) {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    this.path = q < 0 ? url : url.slice(0, q)
    this.query = q < 0 ? undefined : url.slice(q + 1)
    this.headers = req.headers
  }

  body(): RequestBody {
    return undefined
  }
}
