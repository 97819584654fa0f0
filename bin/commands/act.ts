import type { Message, Stoa } from '../../actions/index.js'
import { createStoa, parsePattern, StoaError } from '../../actions/index.js'
import type { Transport, TransportHost } from '../../actions/transport.js'
import type { Args, Io } from '../io.js'
import { loadService } from '../load.js'
import { buildMessage, coerceBySchema, parseJsonMessage } from '../message.js'
import { isStoaErrorLike, writeJson } from '../output.js'
import { UsageError } from '../usage.js'
import { cliLogger, stringFlag } from './shared.js'

/** The transports behind `--url` (bin/remote.ts), imported only then: an in-process act needs none. */
const remote = () => import('../remote.js')

/** Refuse a stdin message beyond this size rather than buffer without bound. */
const MAX_STDIN_BYTES = 16 * 1024 * 1024

/**
 * `stoa act`: runs one action, in process (`<service>` is a module path) or through the
 * transport a `--url` names, prints its result as JSON and returns 0. A failure rejects with
 * the action's `StoaError`, which the entry prints as `CODE: message` and turns into exit 1.
 *
 * @example
 * const code = await act({ positionals: ['./math.ts', 'role:math,cmd:sum', 'left=1'], values: {} }, io)
 */
export async function act(args: Args, io: Io): Promise<number> {
  const url = stringFlag(args, 'url')
  const service = stringFlag(args, 'service')
  const positionals = [...args.positionals]
  if (url === undefined && service !== undefined) throw new UsageError('--service goes with --url amqp://… or nats://…')
  const servicePath = url === undefined ? positionals.shift() : undefined
  if (url === undefined && servicePath === undefined)
    throw new UsageError('missing <service>: the path of a service module, or --url')
  const patternText = positionals.shift()
  if (patternText === undefined) throw new UsageError('missing <pattern>, like role:math,cmd:sum')
  const pattern = parsePatternArg(patternText)

  const data = await messageArgs(args, io, positionals)
  const timeoutText = stringFlag(args, 'timeout')
  const timeoutMs = timeoutText === undefined ? undefined : Number(timeoutText)
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new UsageError(`--timeout takes a whole number of milliseconds; got "${timeoutText}"`)
  }
  const token = stringFlag(args, 'token') ?? nonEmpty(io.env.STOA_TOKEN)
  const logger = cliLogger(args, io.stderr)

  let stoa: Stoa
  if (url === undefined) {
    // No transport: the kernel alone runs the action, and the tasks and events it sends reach
    // this service's own handlers in process.
    stoa = await loadService(servicePath!, { cwd: io.cwd, env: io.env, name: stringFlag(args, 'name'), logger })
  } else {
    if (stringFlag(args, 'name') !== undefined)
      throw new UsageError('--name names an in-process service; with --url, use --service')
    // A client-only instance: the pattern goes through the transport, nothing runs here.
    const transport = await (await remote()).clientTransport(url, service, pattern)
    stoa = createStoa({ name: 'cli', logger }).client(transport, [pattern])
  }
  try {
    if (url !== undefined) await started(stoa, url)
    // In process the action's schema is known: values it wants as text stay text.
    const message =
      url === undefined
        ? await coerceBySchema(stoa.find({ ...data, ...pattern })?.schema, data, pairsOf(positionals), pattern)
        : data
    const out = await stoa.act(pattern, message, { token, timeoutMs, caller: 'cli' })
    writeJson(io.stdout, out)
    return 0
  } finally {
    await stoa.close()
  }
}

/**
 * `stoa send`: hands a task to its service, in process (the service module's handler runs here,
 * and a failure of it is this command's failure) or through the transport a `--url` names
 * (accepted once the broker or listener took it). Prints `{"task": <name>, "accepted": true}`.
 *
 * @example
 * const code = await send({ positionals: ['./tally.ts', 'tally.vote.record', 'voter=v1'], values: {} }, io)
 */
export function send(args: Args, io: Io): Promise<number> {
  return deliver('send', args, io)
}

/**
 * `stoa emit`: emits an event, to the service module's own subscribers in process (a failing
 * subscriber fails the command) or through the transport a `--url` names, to every subscribing
 * service. Prints `{"event": <name>, "accepted": true}`.
 *
 * @example
 * const code = await emit({ positionals: ['./audit.ts', 'vote.recorded', 'voter=v1'], values: {} }, io)
 */
export function emit(args: Args, io: Io): Promise<number> {
  return deliver('emit', args, io)
}

async function deliver(kind: 'send' | 'emit', args: Args, io: Io): Promise<number> {
  const what = kind === 'send' ? 'task' : 'event'
  const url = stringFlag(args, 'url')
  const positionals = [...args.positionals]
  const servicePath = url === undefined ? positionals.shift() : undefined
  if (url === undefined && servicePath === undefined)
    throw new UsageError('missing <service>: the path of a service module, or --url')
  const name = positionals.shift()
  if (name === undefined)
    throw new UsageError(`missing <${what}>, like ${kind === 'send' ? 'tally.vote.record' : 'vote.recorded'}`)
  const data = await messageArgs(args, io, positionals)
  const token = stringFlag(args, 'token') ?? nonEmpty(io.env.STOA_TOKEN)
  const logger = cliLogger(args, io.stderr)
  if (url === undefined) {
    // In process the envelope goes in as a transport would hand it over, so the handler runs
    // with the task's or event's name in ctx and this command waits for it and reports it.
    const stoa = await loadService(servicePath!, { cwd: io.cwd, env: io.env, name: stringFlag(args, 'name'), logger })
    const door = cliDoor()
    stoa.listen(door)
    try {
      await stoa.ready()
      const id = (await import('node:crypto')).randomUUID()
      const schema = kind === 'send' ? stoa.find({ ...data, task: name })?.schema : undefined
      const msg = await coerceBySchema(schema, data, pairsOf(positionals))
      const reply = await door.host().dispatch({ kind, name, msg, meta: { id, trace: id, caller: 'cli', token } })
      if (!reply.ok) throw StoaError.fromJSON(reply.error)
    } finally {
      await stoa.close()
    }
  } else {
    const stoa = createStoa({ name: 'cli', logger }).client(
      await (await remote()).clientTransport(url, stringFlag(args, 'service'), undefined, false),
    )
    try {
      await started(stoa, url)
      if (kind === 'send') await stoa.send(name, data, { token })
      else await stoa.emit(name, data, { token })
    } finally {
      await stoa.close()
    }
  }
  writeJson(io.stdout, { [what]: name, accepted: true })
  return 0
}

/** A listening transport that receives nothing itself: the command hands its envelope in. */
function cliDoor(): Transport & { host(): TransportHost } {
  let held: TransportHost | undefined
  return {
    name: 'cli',
    host: () => held!,
    async listen(h: TransportHost) {
      held = h
    },
    async close() {},
  }
}

/** The message from `--json`, stdin (`-`) and `key=value` arguments, in that order. */
async function messageArgs(args: Args, io: Io, positionals: readonly string[]): Promise<Message> {
  const dash = positionals.filter((p) => p === '-').length
  const json = stringFlag(args, 'json')
  if (dash > 1) throw new UsageError('"-" (the message on stdin) may be given once')
  if (dash === 1 && json !== undefined) throw new UsageError('give the message with --json or on stdin ("-"), not both')
  let base: Message = {}
  if (json !== undefined) base = parseJsonMessage(json, 'argument')
  if (dash === 1) base = parseJsonMessage(await readAll(io.stdin), 'stdin')
  return buildMessage(
    positionals.filter((p) => p !== '-'),
    base,
  )
}

/** The `key=value` arguments among the positionals left. */
function pairsOf(positionals: readonly string[]): string[] {
  return positionals.filter((p) => p !== '-' && p.includes('='))
}

/** The pattern argument: a malformed one is a usage error, not a failed action. */
function parsePatternArg(text: string): Message {
  try {
    return { ...parsePattern(text) }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/**
 * Starts the client. A transport that fails to connect with anything but a stoa error (a
 * socket error, say) is reported as `UNAVAILABLE` naming the URL: the library's own text is
 * kept for `--verbose` only.
 */
async function started(stoa: Stoa, url: string): Promise<void> {
  try {
    await stoa.ready()
  } catch (err) {
    if (isStoaErrorLike(err)) throw err
    throw new StoaError('UNAVAILABLE', `cannot reach ${(await remote()).shownUrl(url)}`, undefined, { cause: err })
  }
}

async function readAll(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    const buf =
      typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    size += buf.length
    if (size > MAX_STDIN_BYTES)
      throw new StoaError('PAYLOAD_TOO_LARGE', `the message on stdin exceeds ${MAX_STDIN_BYTES} bytes`)
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}
