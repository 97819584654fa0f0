import { connect } from 'node:net'
import fc from 'fast-check'
import { ERRORS } from '../../../actions/index.js'

/*
 * Random HTTP requests for property tests of stoa's HTTP listeners (the HTTP transport's and
 * serveWeb's). Requests are written byte for byte on a raw socket, so nothing a client library
 * would smooth over (lengths, chunk framing, odd headers) is smoothed over. `request` builds
 * requests node's HTTP parser accepts, so every answer to them comes from stoa's code;
 * `garbage` is anything at all, which the parser may refuse on its own.
 */

/** One request, as the property generated it. */
export interface FuzzRequest {
  method: string
  target: string
  headers: [string, string][]
  body: Buffer
  chunked: boolean
}

/** What came back on the connection. */
export interface Exchange {
  /** Everything the server sent, as latin1 so any byte survives. */
  raw: string
  /** Why the exchange ended: the server closed, the socket failed, or the bound ran out. */
  end: 'closed' | 'error' | 'hung'
}

/** The answer parsed: status, lowercase headers, body. */
export interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']
/** Visible ASCII and space: what a header value or a request target may hold here. */
const visible = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
})
const targetChar = fc.oneof(
  fc.constantFrom('/', 'a', 'x', '?', '&', '=', '%', '%2F', '%00', '%zz', '..', '.', ':', '#', '*', '~', '+', ';', '1'),
  fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
)
const headerName = fc.oneof(
  fc.constantFrom(
    'x-stoa-id',
    'x-stoa-trace',
    'x-stoa-timeout-ms',
    'x-stoa-caller',
    'x-stoa-kind',
    'x-stoa-name',
    'authorization',
    'traceparent',
    'tracestate',
    'seneca-id',
    'seneca-kind',
    'cookie',
    'accept',
    'origin',
    'x-forwarded-for',
    'x-request-id',
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
)
const headerValue = fc.oneof(
  fc.constantFrom(
    'act',
    'send',
    'emit',
    'fuzz.item.make',
    'item.made',
    '0',
    '1',
    '50',
    '99999999999999999',
    '-1',
    '1e3',
    'Bearer abc',
    'Basic abc',
    'Bearer ',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'stoa=1; stoa_token=x',
    '',
  ),
  visible.map((v) => v.trim()),
)
const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 6 },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'application/vnd.api+json',
    'APPLICATION/JSON',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    '',
  ),
)

/** JSON that reaches the listeners' actions, and JSON or text that does not. */
function bodyText(messages: fc.Arbitrary<Record<string, unknown>>, maxBody: number): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: messages.map((m) => JSON.stringify(m)), weight: 6 },
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
    fc.constantFrom('', '{', '[]', 'null', '"x"', '{"__proto__":{"polluted":true}}', '{"a":1}{"b":2}', '\u0000'),
    fc.string({ maxLength: 40 }),
    fc.nat({ max: maxBody * 3 }).map((n) => `{"pad":"${'x'.repeat(n)}"}`),
  )
}

/**
 * Requests node's parser accepts, aimed at a listener: its routes (`[method, path]`) mostly,
 * with stoa's headers, bodies of every media type and size, by length or chunked.
 */
export function request(
  routes: readonly (readonly [string, string])[],
  messages: fc.Arbitrary<Record<string, unknown>>,
  maxBody: number,
): fc.Arbitrary<FuzzRequest> {
  const paths = routes.map(([, path]) => path)
  const target = fc.oneof(
    { arbitrary: fc.constantFrom(...paths), weight: 4 },
    fc.tuple(fc.constantFrom(...paths), fc.array(targetChar, { maxLength: 8 })).map(([p, rest]) => p + rest.join('')),
    fc.array(targetChar, { minLength: 1, maxLength: 12 }).map((cs) => `/${cs.join('')}`),
  )
  const line = fc.oneof(
    { arbitrary: fc.constantFrom(...routes), weight: 6 },
    fc.tuple(fc.constantFrom(...METHODS), target),
  )
  return fc
    .record({
      line,
      headers: fc
        .tuple(
          fc.option(contentType, { nil: undefined, freq: 8 }),
          fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }),
        )
        .map(([type, rest]) => [...(type === undefined ? [] : [['content-type', type] as [string, string]]), ...rest]),
      body: bodyText(messages, maxBody).map((t) => Buffer.from(t, 'utf8')),
      chunked: fc.boolean(),
    })
    .map(({ line: [method, target], ...rest }) => ({ method, target, ...rest }))
}

/** Bytes of any kind, mostly looking a little like HTTP. */
export const garbage: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'BREW', 'get', ''),
      fc.string({ maxLength: 30 }),
      fc.string({ maxLength: 60 }),
    )
    .map(([m, t, rest]) => Buffer.from(`${m} ${t} HTTP/1.1\r\n${rest}\r\n\r\n`, 'latin1')),
  fc
    .tuple(fc.string({ maxLength: 20 }), fc.nat({ max: 99 }))
    .map(([h, n]) => Buffer.from(`POST /act HTTP/1.1\r\nContent-Length: ${n}\r\n${h}\r\n\r\n{"role":`, 'latin1')),
)

/** The bytes of a request: `Connection: close`, so the server ends the exchange by closing. */
export function serialize(r: FuzzRequest): Buffer {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'Host: fuzz', 'Connection: close']
  const seen = new Set<string>()
  for (const [name, value] of r.headers) {
    // One of each: node joins or refuses some duplicates, which is node's business, not stoa's.
    if (seen.has(name)) continue
    seen.add(name)
    lines.push(`${name}: ${value}`)
  }
  const withBody = r.body.length > 0 || r.method === 'POST'
  if (withBody && r.chunked) lines.push('Transfer-Encoding: chunked')
  else if (withBody) lines.push(`Content-Length: ${r.body.length}`)
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
  if (!withBody) return head
  if (!r.chunked) return Buffer.concat([head, r.body])
  // Two chunks when there is enough, so a body also arrives split.
  const cut = Math.floor(r.body.length / 2)
  const parts = [r.body.subarray(0, cut), r.body.subarray(cut)].filter((p) => p.length > 0)
  const framed = parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')])
  return Buffer.concat([head, ...framed, Buffer.from('0\r\n\r\n')])
}

/**
 * Writes `bytes` on a new connection and reads until the server closes it, at most `boundMs`.
 * With `halfClose` the client then ends its side, as for garbage, which may be an incomplete
 * request the server would otherwise rightly wait on; a well-formed request leaves it open,
 * since node's server drops a request whose client has ended its side before the answer.
 */
export function exchange(url: string, bytes: Buffer, halfClose = false, boundMs = 3000): Promise<Exchange> {
  return new Promise((resolve) => {
    const u = new URL(url)
    const socket = connect(Number(u.port), u.hostname)
    let raw = ''
    let done = false
    const finish = (end: Exchange['end']) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ raw, end })
    }
    const timer = setTimeout(() => finish('hung'), boundMs)
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (raw += d))
    // A server that answers before reading the whole body may reset the connection: the
    // answer, already read, is what counts.
    socket.on('error', () => finish('error'))
    socket.on('close', () => finish('closed'))
    socket.on('connect', () => (halfClose ? socket.end(bytes) : socket.write(bytes)))
  })
}

/** The first answer of an exchange, or undefined when none was sent. */
export function parseAnswer(raw: string): Answer | undefined {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/.exec(raw)
  if (m === null) return undefined
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const headers: Record<string, string> = {}
  for (const line of raw.slice(m[0].length, end).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = raw.slice(end + 4)
  if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']))
  else if (headers['transfer-encoding'] === 'chunked') body = unchunk(body)
  return { status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') }
}

function unchunk(text: string): string {
  let out = ''
  let i = 0
  for (;;) {
    const eol = text.indexOf('\r\n', i)
    if (eol < 0) return out
    const size = Number.parseInt(text.slice(i, eol), 16)
    if (!(size > 0)) return out
    out += text.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
}

/** The statuses of the error table. */
const ERROR_STATUSES: ReadonlySet<number> = new Set(Object.values(ERRORS).map((e) => e.http))

/**
 * What is wrong with an answer to a request node's parser accepted, or undefined when it is
 * well formed: an error status carries a JSON body whose code is in the table and gives that
 * status (read from the body by `errorOf`); a success body is JSON or empty; no stack anywhere.
 */
export function problem(
  r: FuzzRequest,
  x: Exchange,
  errorOf: (json: unknown) => unknown,
  success: ReadonlySet<number>,
): string | undefined {
  if (x.end === 'hung') return 'no answer and no close within the bound'
  const a = parseAnswer(x.raw)
  if (a === undefined) return `no well-formed answer: ${JSON.stringify(x.raw.slice(0, 200))}`
  if (/"stack"|\bat .+\.(?:ts|js):\d+/.test(a.body)) return `a stack in the answer: ${a.body.slice(0, 200)}`
  if (r.method === 'HEAD') {
    return success.has(a.status) || ERROR_STATUSES.has(a.status) ? undefined : `HEAD answered ${a.status}`
  }
  if (success.has(a.status)) {
    if (a.body === '') return undefined
    try {
      JSON.parse(a.body)
      return undefined
    } catch {
      return `a ${a.status} whose body is not JSON: ${a.body.slice(0, 200)}`
    }
  }
  let json: unknown
  try {
    json = JSON.parse(a.body)
  } catch {
    return `a ${a.status} whose body is not JSON: ${JSON.stringify(x.raw.slice(0, 300))}`
  }
  const error = errorOf(json) as { code?: unknown; message?: unknown } | undefined
  const code = error?.code
  if (typeof code !== 'string' || !Object.hasOwn(ERRORS, code)) return `no known code in ${a.body.slice(0, 200)}`
  if (typeof error?.message !== 'string') return `no message in ${a.body.slice(0, 200)}`
  const want = ERRORS[code as keyof typeof ERRORS].http
  if (a.status !== want) return `${code} answered ${a.status}, the table says ${want}`
  return undefined
}
