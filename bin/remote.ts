import type { Stoa, Transport } from '../actions/index.js'
import { UsageError } from './usage.js'

/**
 * The client transport a `--url` names. Each transport is imported only when its scheme is
 * asked for, so `stoa act` on an in-process service never loads express or amqplib.
 *
 * - `http://host:port`, `https://…`: stoa's HTTP transport (`POST /act`).
 * - `amqp://…`, `amqps://…`: RabbitMQ; `--service name` or `?service=name` in the URL names
 *   the service whose RPC queue answers.
 * - `nats://host:port`: NATS; `--service name` or `?service=name` names the service whose
 *   subject answers, and without either the pattern's `role` does (`role:math` asks `math`).
 * - `lambda:<function>`: the AWS Lambda function of that name or ARN, invoked through the AWS
 *   SDK (see {@link lambdaUrl}); credentials and region from the standard AWS environment.
 *
 * @example
 * const transport = await clientTransport('amqp://127.0.0.1/?service=math', undefined)
 */
export async function clientTransport(
  text: string,
  service: string | undefined,
  pattern?: Readonly<Record<string, unknown>>,
  acts = true,
): Promise<Transport> {
  if (text.startsWith('lambda:')) {
    if (service !== undefined)
      throw new UsageError(
        '--service names an RPC queue: it goes with amqp:// URLs; lambda:<function> names the function',
      )
    const options = lambdaUrl(text)
    const { createLambdaTransport } = await import('../transports/lambda/index.js')
    try {
      return createLambdaTransport(options)
    } catch (err) {
      // A malformed function name or parameter is a mistake on the command line.
      throw new UsageError(err instanceof Error ? err.message : String(err))
    }
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
      if (service !== undefined)
        throw new UsageError('--service names an RPC queue: it goes with amqp:// URLs, not http://')
      const { createHttpTransport } = await import('../transports/http/index.js')
      return createHttpTransport({ url: url.href })
    }
    case 'amqp:':
    case 'amqps:': {
      const options = amqpUrl(url.href, service)
      // Tasks and events name their queues themselves: only acts need the service to ask.
      if (options.target === undefined && acts) {
        throw new UsageError('an amqp URL needs the service to ask: --service <name> or ?service=<name>')
      }
      const { createAmqpTransport } = await import('../transports/amqp/index.js')
      return createAmqpTransport(options)
    }
    case 'nats:': {
      const options = natsUrl(url.href, service)
      // A service named after its role answers without being named: `role:math` asks `math`.
      const role =
        typeof pattern?.role === 'string' && /^[a-z][a-z0-9-]*$/.test(pattern.role) ? pattern.role : undefined
      const target = options.target ?? role
      if (target === undefined && acts) {
        throw new UsageError(
          'a nats URL needs the service to ask: --service <name>, ?service=<name>, or a role: pattern',
        )
      }
      const { createNatsTransport } = await import('../transports/nats/index.js')
      return createNatsTransport({ ...options, target })
    }
    default:
      throw new UsageError(
        `unsupported URL scheme "${url.protocol}": use http://, https://, amqp://, amqps:// or nats://`,
      )
  }
}

/**
 * Reads stoa's own parameters off an amqp URL: `service` (whose RPC queue answers acts, also
 * given as `--service`), `prefix` (the first segment of every exchange and queue name) and
 * `queueType` (`classic` or `quorum`). The URL handed to RabbitMQ keeps only what is RabbitMQ's.
 *
 * @example
 * amqpUrl('amqp://127.0.0.1?service=math&prefix=test&queueType=quorum', undefined)
 * // { url: 'amqp://127.0.0.1', target: 'math', prefix: 'test', queueType: 'quorum' }
 */
export function amqpUrl(
  text: string,
  service: string | undefined,
): { url: string; target?: string; prefix?: string; queueType?: 'classic' | 'quorum' } {
  // Several nodes of one cluster: `amqp://h1:5672,amqp://h2:5672?prefix=vote`; stoa's own
  // parameters may sit on any of them and apply to all.
  const read = text.split(',').map((part) => {
    try {
      return new URL(part.trim())
    } catch {
      throw new UsageError(`not a URL: ${part}`)
    }
  })
  const param = (name: string): string | undefined => {
    const values = new Set(read.flatMap((u) => u.searchParams.getAll(name)))
    if (values.size > 1) throw new UsageError(`the broker URLs disagree on ?${name}=`)
    return [...values][0]
  }
  for (const url of read) {
    if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') throw new UsageError(`not an amqp:// URL: ${url.href}`)
  }
  const fromUrl = param('service')
  if (service !== undefined && fromUrl !== undefined && service !== fromUrl) {
    throw new UsageError(`--service ${service} and ?service=${fromUrl} in the URL disagree`)
  }
  const target = service ?? fromUrl
  const prefix = param('prefix')
  const queueType = param('queueType')
  if (queueType !== undefined && queueType !== 'classic' && queueType !== 'quorum')
    throw new UsageError(`?queueType= must be classic or quorum, not "${queueType}"`)
  for (const url of read) for (const name of ['service', 'prefix', 'queueType']) url.searchParams.delete(name)
  return {
    url: read.map((u) => u.href).join(','),
    ...(target === undefined || target === '' ? {} : { target }),
    ...(prefix === undefined || prefix === '' ? {} : { prefix }),
    ...(queueType === undefined ? {} : { queueType }),
  }
}

/**
 * Reads stoa's own parameters off a nats URL, as {@link amqpUrl} does: `service` (whose subject
 * answers acts, also given as `--service`) and `prefix` (the first token of every subject and
 * stream name). The URL handed to nats.js keeps the rest.
 *
 * @example
 * natsUrl('nats://127.0.0.1:4222?service=math&prefix=test', undefined)
 * // { url: 'nats://127.0.0.1:4222', target: 'math', prefix: 'test' }
 */
export function natsUrl(text: string, service: string | undefined): { url: string; target?: string; prefix?: string } {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`not a URL: ${text}`)
  }
  if (url.protocol !== 'nats:') throw new UsageError(`not a nats:// URL: ${text}`)
  const fromUrl = url.searchParams.get('service') ?? undefined
  if (service !== undefined && fromUrl !== undefined && service !== fromUrl) {
    throw new UsageError(`--service ${service} and ?service=${fromUrl} in the URL disagree`)
  }
  const target = service ?? fromUrl
  const prefix = url.searchParams.get('prefix') ?? undefined
  url.searchParams.delete('service')
  url.searchParams.delete('prefix')
  // nats.js takes host:port with its scheme; a bare trailing slash is not part of the server address.
  const href = url.search === '' && url.pathname === '/' ? url.href.slice(0, -1) : url.href
  return {
    url: href,
    ...(target === undefined || target === '' ? {} : { target }),
    ...(prefix === undefined || prefix === '' ? {} : { prefix }),
  }
}

/**
 * `stoa serve --nats <url>`: listens on NATS with the service's requests, tasks and events, and
 * sends its own tasks and events there too. Resolves with the URL to print.
 *
 * @example
 * const shown = await serveNats(stoa, 'nats://127.0.0.1:4222', undefined)
 */
export async function serveNats(stoa: Stoa, text: string, graceMs: number | undefined): Promise<string> {
  const options = natsUrl(text, undefined)
  if (options.target !== undefined) {
    throw new UsageError('?service= names a service to call; serve takes the name from the service module or --name')
  }
  const { createNatsTransport } = await import('../transports/nats/index.js')
  const transport = createNatsTransport({ ...options, ...(graceMs === undefined ? {} : { graceMs }) })
  stoa.listen(transport).client(transport)
  const shown = new URL(shownUrl(options.url))
  shown.searchParams.set('prefix', options.prefix ?? 'stoa')
  return shown.href
}

/** The parameters a `lambda:` URL may carry after its function name. */
const LAMBDA_PARAMS = ['region', 'endpoint', 'qualifier'] as const

/**
 * Reads `lambda:<function>[?region=…&endpoint=…&qualifier=…]`: the function's name or ARN,
 * and optionally its region, another Invoke API endpoint and a version or alias. Without
 * them, the AWS environment (`AWS_REGION`, `AWS_ENDPOINT_URL_LAMBDA`) decides.
 *
 * @example
 * lambdaUrl('lambda:math?region=eu-west-1') // { functionName: 'math', region: 'eu-west-1' }
 */
export function lambdaUrl(text: string): {
  functionName: string
  region?: string
  endpoint?: string
  qualifier?: string
} {
  const rest = text.slice('lambda:'.length)
  const q = rest.indexOf('?')
  const functionName = q < 0 ? rest : rest.slice(0, q)
  if (functionName === '') throw new UsageError('a lambda: URL names the function: lambda:<function-name or ARN>')
  const out: { functionName: string; region?: string; endpoint?: string; qualifier?: string } = { functionName }
  for (const [key, value] of new URLSearchParams(q < 0 ? '' : rest.slice(q + 1))) {
    if (!(LAMBDA_PARAMS as readonly string[]).includes(key))
      throw new UsageError(`a lambda: URL takes ${LAMBDA_PARAMS.map((p) => `?${p}=`).join(', ')}; not "${key}"`)
    if (value !== '') out[key as (typeof LAMBDA_PARAMS)[number]] = value
  }
  return out
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
