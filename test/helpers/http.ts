import type { Agent } from 'node:http'
import { request } from 'node:http'

/** What a raw request got back. */
export interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  json: any
  /** Whether the request went over a kept-alive connection. */
  reused: boolean
}

/**
 * Sends a request with node:http as it is, so bodies, lengths, content types and connection
 * reuse can be anything a test needs (no client library smoothing them over). `chunked` leaves
 * out `content-length`; without `agent` every request gets its own connection.
 */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; chunked?: boolean; agent?: Agent } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url)
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body))
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = text === '' ? undefined : JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json, reused: req.reusedSocket })
        })
      },
    )
    // The server may close after refusing an over-long body before the body is all sent.
    req.on('error', reject)
    if (opts.body !== undefined) req.end(opts.body)
    else req.end()
  })
}
