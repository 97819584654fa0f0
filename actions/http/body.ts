import type { IncomingMessage } from 'node:http'
import { StoaError } from '../errors.js'

/** Request headers as node gives them: lowercase names. */
export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/** `application/json`, `application/vnd.api+json`, with or without parameters. */
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/**
 * Whether a request on node:http has a body: a `Transfer-Encoding`, or a `Content-Length`
 * other than 0 (RFC 9112 §6.3).
 *
 * @example
 * const body = hasBody(req.headers) ? await readBody(req, 1024 * 1024) : undefined
 */
export function hasBody(headers: HttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Refuses a body whose media type is not JSON (`application/json`, `...+json`) with
 * `UNSUPPORTED_MEDIA_TYPE` (415).
 *
 * @example
 * checkContentType(req.headers['content-type'])
 */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || !JSON_MEDIA.test(contentType)) {
    throw new StoaError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json', {
      contentType: contentType ?? null,
    })
  }
}

/**
 * The `PAYLOAD_TOO_LARGE` error (413) for a body over `maxBodyBytes`.
 *
 * @example
 * if (size > maxBodyBytes) throw tooLarge(maxBodyBytes)
 */
export function tooLarge(maxBodyBytes: number): StoaError {
  return new StoaError('PAYLOAD_TOO_LARGE', `the request body is over ${maxBodyBytes} bytes`, { maxBodyBytes })
}

/**
 * Reads the JSON body of a node:http request, every server's one reader. In order: a body
 * that is not JSON is refused (415) before it is read, a declared length over `maxBodyBytes`
 * too (413), and a chunked body is cut off as soon as it passes the limit (413); the stream is
 * then left paused, so the answer should close the connection rather than let the next
 * request on it start in the middle of this one. Resolves with the bytes (empty: no body).
 *
 * @example
 * const raw = await readBody(req, 1024 * 1024)
 */
export function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (!hasBody(req.headers)) {
      resolve(EMPTY)
      return
    }
    try {
      checkContentType(req.headers['content-type'])
      if (Number(req.headers['content-length']) > maxBodyBytes) throw tooLarge(maxBodyBytes)
    } catch (err) {
      reject(err)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        req.off('data', onData)
        req.off('end', onEnd)
        req.pause()
        reject(tooLarge(maxBodyBytes))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', () => reject(new StoaError('INVALID_MESSAGE', 'the request body could not be read')))
  })
}

const EMPTY = Buffer.alloc(0)

/**
 * Parses a request body held in memory: JSON media types only (415 otherwise), at most
 * `maxBodyBytes` (413), valid JSON (400 `INVALID_JSON`) holding an object (400
 * `INVALID_MESSAGE`). An empty body is no body.
 *
 * @example
 * parseJsonBody('application/json', '{"a":1}', 1024) // { a: 1 }
 */
export function parseJsonBody(
  contentType: string | undefined,
  raw: Buffer | string,
  maxBodyBytes: number,
): Record<string, unknown> | undefined {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length
  if (size === 0) return undefined
  checkContentType(contentType)
  if (size > maxBodyBytes) throw tooLarge(maxBodyBytes)
  return parseJsonObject(typeof raw === 'string' ? raw : raw.toString('utf8'))
}

/**
 * Parses JSON text that must hold an object: `INVALID_JSON` (400) when it is not JSON,
 * `INVALID_MESSAGE` (400) when it holds something else.
 *
 * @example
 * parseJsonObject('{"role":"math"}') // { role: 'math' }
 */
export function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // The parser's own message quotes the input; the code and a plain sentence are enough.
    throw new StoaError('INVALID_JSON', 'the request body is not valid JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StoaError('INVALID_MESSAGE', 'the request body must be a JSON object')
  }
  return value as Record<string, unknown>
}
