import type { ClientRequest, IncomingMessage } from 'node:http'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Envelope, Reply, TransportClient } from '../../actions/index.js'
import type { HttpSettings } from './options.js'
import { isSenecaResponse, senecaReply, senecaRequestHeaders } from './seneca-compat.js'
import { failure, replyOf, requestHeaders } from './wire.js'

/** How often requests past their deadline are abandoned, ms. */
const SWEEP_MS = 100

/** The client side: posts envelopes to one listener over kept-alive connections. */
export interface HttpClient extends TransportClient {
  /** Fails what is still waiting with `UNAVAILABLE` and closes every connection. */
  close(): void
}

/**
 * Creates a client for the listener at `url` (a stoa or a Seneca HTTP listener). Requests go
 * over at most `maxSockets` kept-alive connections; each is abandoned soon after its deadline,
 * so a stuck listener holds no connection much longer than the caller's time limit.
 */
export function createClient(url: string, settings: HttpSettings): HttpClient {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const request = secure ? httpsRequest : httpRequest
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: settings.maxSockets, scheduling: 'lifo', ca: settings.ca })
    : new HttpAgent({ keepAlive: true, maxSockets: settings.maxSockets, scheduling: 'lifo' })
  const base = target.pathname.replace(/\/+$/, '')
  const path = base + settings.path
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname
  const port = target.port === '' ? (secure ? 443 : 80) : Number(target.port)
  /** Requests waiting for an answer, with their deadline and how to end them. */
  const inFlight = new Map<ClientRequest, { deadline: number; finish: (r: Reply) => void }>()
  let closed = false
  let sweeper: NodeJS.Timeout | undefined

  /**
   * Abandons requests past their deadline. The kernel has already answered TIMEOUT to the
   * caller at the deadline; this only frees the connection, so one coarse timer for all
   * requests does instead of a timer per request.
   */
  function sweep(): void {
    const now = Date.now()
    for (const [req, pending] of inFlight) {
      if (pending.deadline <= now) {
        req.destroy()
        pending.finish(failure('TIMEOUT', `no answer from ${target.host} before the deadline`))
      }
    }
    if (inFlight.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  function post(e: Envelope, body: string, retried: boolean, done: (r: Reply) => void): void {
    const headers = requestHeaders(e, Buffer.byteLength(body))
    Object.assign(headers, senecaRequestHeaders(e.meta))
    const req = request({ agent, hostname, port, path, method: 'POST', headers })
    let ended = false
    const finish = (r: Reply) => {
      if (ended) return
      ended = true
      inFlight.delete(req)
      done(r)
    }
    inFlight.set(req, { deadline: e.meta.deadline ?? Infinity, finish })
    if (sweeper === undefined && e.meta.deadline !== undefined) {
      sweeper = setInterval(sweep, SWEEP_MS)
      sweeper.unref()
    }
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = chunks.length === 0 ? '' : chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')
        const status = res.statusCode ?? 500
        finish(isSenecaResponse(res.headers) ? senecaReply(status, text) : replyOf(status, text))
      })
      res.on('error', () => finish(failure('UNAVAILABLE', `the answer from ${target.host} was cut off`)))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (ended) return
      // A kept-alive connection the listener closed just as we reused it: nothing was
      // processed, so the request is sent once more on a fresh connection (node's documented
      // pattern for `reusedSocket`).
      if (!retried && !closed && req.reusedSocket && err.code === 'ECONNRESET') {
        ended = true
        inFlight.delete(req)
        post(e, body, true, done)
        return
      }
      finish(failure('UNAVAILABLE', closed ? 'the http transport is closed' : `cannot reach ${target.host}: ${err.code ?? 'connection failed'}`))
    })
    req.end(body)
  }

  return {
    deliver(e: Envelope): Promise<Reply> {
      if (closed) return Promise.resolve(failure('UNAVAILABLE', 'the http transport is closed'))
      if (e.meta.deadline !== undefined && e.meta.deadline <= Date.now()) {
        return Promise.resolve(failure('TIMEOUT', 'the deadline passed before the request was sent'))
      }
      let body: string
      try {
        body = JSON.stringify(e.msg)
      } catch {
        return Promise.resolve(failure('INVALID_MESSAGE', 'the message cannot be written as JSON'))
      }
      return new Promise((resolve) => post(e, body, false, resolve))
    },
    close() {
      closed = true
      if (sweeper !== undefined) clearInterval(sweeper)
      for (const [req, pending] of inFlight) {
        req.destroy()
        pending.finish(failure('UNAVAILABLE', 'the http transport is closed'))
      }
      agent.destroy()
    },
  }
}
