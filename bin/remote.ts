import type { Transport } from '../actions/index.js'
import { UsageError } from './usage.js'

/**
 * The client transport a `--url` names. Each transport is imported only when its scheme is
 * asked for, so `stoa act` on an in-process service never loads express or amqplib.
 *
 * - `http://host:port`, `https://…`: stoa's HTTP transport (`POST /act`).
 * - `amqp://…`, `amqps://…`: RabbitMQ; `--service name` or `?service=name` in the URL names
 *   the service whose RPC queue answers.
 *
 * @example
 * const transport = await clientTransport('amqp://127.0.0.1/?service=math', undefined)
 */
export async function clientTransport(text: string, service: string | undefined): Promise<Transport> {
  if (text.startsWith('lambda:')) {
    throw new UsageError('lambda: URLs need the Lambda transport, which is not available yet; use http:// or amqp://')
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--url is not a URL: ${text}`)
  }
  switch (url.protocol) {
    case 'http:':
    case 'https:': {
      if (service !== undefined) throw new UsageError('--service names an RPC queue: it goes with amqp:// URLs, not http://')
      const { createHttpTransport } = await import('../transports/http/index.js')
      return createHttpTransport({ url: url.href })
    }
    case 'amqp:':
    case 'amqps:': {
      const options = amqpUrl(url.href, service)
      if (options.target === undefined) {
        throw new UsageError('an amqp URL needs the service to ask: --service <name> or ?service=<name>')
      }
      const { createAmqpTransport } = await import('../transports/amqp/index.js')
      return createAmqpTransport(options)
    }
    default:
      throw new UsageError(`unsupported URL scheme "${url.protocol}": use http://, https://, amqp:// or amqps://`)
  }
}

/**
 * Reads stoa's own parameters off an amqp URL: `service` (whose RPC queue answers acts, also
 * given as `--service`) and `prefix` (the first segment of every exchange and queue name).
 * The URL handed to RabbitMQ keeps only what is RabbitMQ's.
 *
 * @example
 * amqpUrl('amqp://127.0.0.1?service=math&prefix=test', undefined)
 * // { url: 'amqp://127.0.0.1', target: 'math', prefix: 'test' }
 */
export function amqpUrl(text: string, service: string | undefined): { url: string; target?: string; prefix?: string } {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`not a URL: ${text}`)
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new UsageError(`not an amqp:// URL: ${text}`)
  const fromUrl = url.searchParams.get('service') ?? undefined
  if (service !== undefined && fromUrl !== undefined && service !== fromUrl) {
    throw new UsageError(`--service ${service} and ?service=${fromUrl} in the URL disagree`)
  }
  const target = service ?? fromUrl
  const prefix = url.searchParams.get('prefix') ?? undefined
  url.searchParams.delete('service')
  url.searchParams.delete('prefix')
  return {
    url: url.href,
    ...(target === undefined || target === '' ? {} : { target }),
    ...(prefix === undefined || prefix === '' ? {} : { prefix }),
  }
}

/** A URL fit to print: the password, if any, is masked. */
export function shownUrl(text: string): string {
  try {
    const url = new URL(text)
    if (url.password !== '') url.password = '***'
    return url.href
  } catch {
    return text
  }
}

/** Splits `host:port` (`[::1]:80` for IPv6). Port 0 asks the system for a free port. */
export function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port > 65535) throw new UsageError(`${flag} takes host:port, like 127.0.0.1:3000; got "${text}"`)
  return { host: m[1] ?? (m[2] === '' ? '127.0.0.1' : m[2]!), port }
}
