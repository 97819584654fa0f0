import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import type { Envelope, Reply, TransportClient } from '../../actions/transport.js'
import { loadPeer } from '../../actions/transport.js'
import type { ResolvedHttpOptions } from './options.js'
import { isSenecaResponse, senecaReply, senecaRequestHeaders } from './seneca-compat.js'
import { failure, replyOf, requestHeaders } from './wire.js'

/** How often requests past their deadline are abandoned, ms. */
const SWEEP_MS = 100

/** The client side: posts envelopes to one listener over kept-alive connections. */
export interface HttpClient extends TransportClient {
  /** Fails what is still waiting with `UNAVAILABLE` and closes every connection. */
  close(): void
}

/** What the requests of one client share. */
interface Shared {
  readonly host: string
  readonly inFlight: Set<PendingRequest>
  closed: boolean
}

/**
 * One request in flight: the handler undici calls back, and what the sweeper needs to end it.
 * A class, so that a request allocates one object rather than a closure per callback.
 */
class PendingRequest implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined = undefined
  private status = 0
  private headers: IncomingHttpHeaders | undefined = undefined
  private readonly chunks: Buffer[] = []
  private ended = false

  constructor(
    private readonly shared: Shared,
    readonly deadline: number,
    private readonly done: (r: Reply) => void,
  ) {}

  /** Ends the request with this reply, once. */
  finish(r: Reply): void {
    if (this.ended) return
    this.ended = true
    this.shared.inFlight.delete(this)
    this.done(r)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode
    this.headers = headers
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk)
  }

  onResponseEnd(): void {
    const chunks = this.chunks
    const text =
      chunks.length === 0
        ? ''
        : chunks.length === 1
          ? chunks[0]!.toString('utf8')
          : Buffer.concat(chunks).toString('utf8')
    this.finish(
      this.headers !== undefined && isSenecaResponse(this.headers)
        ? senecaReply(this.status, text)
        : replyOf(this.status, text),
    )
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (this.ended) return
    const { host, closed } = this.shared
    const why = closed
      ? 'the http transport is closed'
      : this.status !== 0
        ? `the answer from ${host} was cut off`
        : `cannot reach ${host}: ${err.code ?? 'connection failed'}`
    this.finish(failure('UNAVAILABLE', why))
  }
}

/**
 * Creates a client for the listener at `url` (a stoa or a Seneca HTTP listener). Requests go
 * through undici's connection pool: at most `maxSockets` kept-alive connections, each closed
 * before the listener's advertised keep-alive timeout runs out, so a request is never written
 * to a connection the listener is closing. Each request is abandoned soon after its deadline,
 * so a stuck listener holds no connection much longer than the caller's time limit. undici is
 * loaded here, when the client starts: a service that only listens over HTTP need not install it.
 */
export async function createClient(url: string, settings: ResolvedHttpOptions): Promise<HttpClient> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const { Pool } = await loadPeer<typeof import('undici')>('undici', 'stoa/http')
  const pool = new Pool(target.origin, {
    connections: settings.maxSockets,
    ...(secure && settings.ca !== undefined ? { connect: { ca: settings.ca } } : {}),
  })
  const base = target.pathname.replace(/\/+$/, '')
  const path = base + settings.path
  /** Requests waiting for an answer, and whether the client is closed. */
  const shared: Shared = { host: target.host, inFlight: new Set(), closed: false }
  const inFlight = shared.inFlight
  let sweeper: NodeJS.Timeout | undefined

  /**
   * Abandons requests past their deadline. The kernel has already answered TIMEOUT to the
   * caller at the deadline; this only frees the connection, so one coarse timer for all
   * requests does instead of a timer per request.
   */
  function sweep(): void {
    const now = Date.now()
    for (const request of inFlight) {
      if (request.deadline <= now) {
        request.finish(failure('TIMEOUT', `no answer from ${target.host} before the deadline`))
        request.controller?.abort(new Error('deadline passed'))
      }
    }
    if (inFlight.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  function post(e: Envelope, body: string, done: (r: Reply) => void): void {
    const headers = requestHeaders(e, Buffer.byteLength(body))
    Object.assign(headers, senecaRequestHeaders(e.meta))
    const request = new PendingRequest(shared, e.meta.deadline ?? Infinity, done)
    inFlight.add(request)
    if (sweeper === undefined && e.meta.deadline !== undefined) {
      sweeper = setInterval(sweep, SWEEP_MS)
      sweeper.unref()
    }
    try {
      pool.dispatch(
        { origin: target.origin, path, method: 'POST', headers: headers as Record<string, string>, body },
        request,
      )
    } catch (err) {
      // undici refuses a request it cannot send (a closed pool, a header it rejects) by throwing.
      request.finish(
        failure(
          'UNAVAILABLE',
          shared.closed ? 'the http transport is closed' : `cannot send to ${target.host}: ${(err as Error).message}`,
        ),
      )
    }
  }

  return {
    deliver(e: Envelope): Promise<Reply> {
      if (shared.closed) return Promise.resolve(failure('UNAVAILABLE', 'the http transport is closed'))
      if (e.meta.deadline !== undefined && e.meta.deadline <= Date.now()) {
        return Promise.resolve(failure('TIMEOUT', 'the deadline passed before the request was sent'))
      }
      let body: string
      try {
        body = JSON.stringify(e.msg)
      } catch {
        return Promise.resolve(failure('INVALID_MESSAGE', 'the message cannot be written as JSON'))
      }
      return new Promise((resolve) => post(e, body, resolve))
    },
    close() {
      shared.closed = true
      if (sweeper !== undefined) clearInterval(sweeper)
      for (const request of inFlight) request.finish(failure('UNAVAILABLE', 'the http transport is closed'))
      void pool.destroy().catch(() => undefined)
    },
  }
}
