import type { DeadLetterFilter } from '../../transports/amqp/index.js'
import type { Args, Io } from '../io.js'
import { writeJson } from '../output.js'
import { amqpUrl, natsUrl } from '../remote.js'
import { UsageError } from '../usage.js'
import { boolFlag, stringFlag } from './shared.js'

const OPS = ['list', 'show', 'redrive', 'purge'] as const
type Op = (typeof OPS)[number]

/** A letter as the command prints and audits it, from either broker. */
interface Letter {
  readonly id: string
  readonly code: string
  readonly trace: string
  /** Where a redrive sends it: the AMQP queue, or the NATS subject. */
  readonly queue?: string
  readonly subject?: string
}

/** What the command needs of a dead-letter queue (AMQP) or stream (NATS). */
interface Letters {
  readonly queue: string
  list(filter: DeadLetterFilter): Promise<{ readonly total: number; readonly letters: readonly Letter[] }>
  show(id: string): Promise<unknown>
  redrive(
    filter: DeadLetterFilter,
    audit: (event: { op: 'redrive' | 'purge'; letter: Letter }) => void,
  ): Promise<{ readonly redriven: readonly Letter[]; readonly skipped?: readonly Letter[] }>
  purge(
    filter: DeadLetterFilter,
    audit: (event: { op: 'redrive' | 'purge'; letter: Letter }) => void,
  ): Promise<{ readonly purged: readonly Letter[] }>
  close(): Promise<void>
}

/**
 * `stoa dlq list|show|redrive|purge --amqp <url> --service <name>` (or `--nats <url>`): a
 * service's dead-letter queue over AMQP itself, or its dead-letter stream on NATS JetStream. `list` prints the letters (code, message, attempts, trace id, age),
 * `show <id>` one with its headers and body, `redrive` publishes the selected ones back to
 * their queues (confirmed before the dead-letter copy is removed; one audit line per letter on
 * stderr), `purge` removes them after a confirmation (`--yes` skips it). Filters: `--code`,
 * `--older-than`, `--id`, `--count`.
 *
 * @example
 * await dlq({ positionals: ['list'], values: { amqp: 'amqp://127.0.0.1?prefix=vote', service: 'tally' } }, io)
 */
export async function dlq(args: Args, io: Io): Promise<number> {
  const [op, ...rest] = args.positionals
  if (op === undefined || !(OPS as readonly string[]).includes(op))
    throw new UsageError(`missing or unknown step "${op ?? ''}": list, show, redrive or purge`)
  const id = op === 'show' ? rest.shift() : undefined
  if (op === 'show' && id === undefined) throw new UsageError('show needs the <id> of a dead letter (see dlq list)')
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
  const amqpText = stringFlag(args, 'amqp')
  const natsText = stringFlag(args, 'nats')
  if (amqpText !== undefined && natsText !== undefined) throw new UsageError('give one broker: --amqp or --nats')
  const text = amqpText ?? natsText ?? io.env.STOA_AMQP_URL ?? io.env.STOA_NATS_URL
  if (text === undefined)
    throw new UsageError(
      'give the broker: --amqp amqp://host[?prefix=p] or --nats nats://host[?prefix=p] (or STOA_AMQP_URL, STOA_NATS_URL)',
    )
  const onNats = natsText !== undefined || (amqpText === undefined && io.env.STOA_AMQP_URL === undefined)
  const broker = onNats ? natsUrl(text, undefined) : amqpUrl(text, undefined)
  const service = stringFlag(args, 'service') ?? broker.target
  if (service === undefined) throw new UsageError('give the service whose dead letters these are: --service <name>')
  const filter = filterOf(args)
  const where = { url: broker.url, prefix: broker.prefix, service }
  const letters: Letters = onNats
    ? await (await import('../../transports/nats/index.js')).openNatsDeadLetters(where)
    : await (await import('../../transports/amqp/index.js')).openDeadLetters(where)
  try {
    return await run(op as Op, id, filter, letters, args, io)
  } finally {
    await letters.close()
  }
}

async function run(
  op: Op,
  id: string | undefined,
  filter: DeadLetterFilter,
  letters: Letters,
  args: Args,
  io: Io,
): Promise<number> {
  if (op === 'list') {
    const { total, letters: shown } = await letters.list(filter)
    writeJson(io.stdout, { queue: letters.queue, total, letters: shown })
    return 0
  }
  if (op === 'show') {
    writeJson(io.stdout, await letters.show(id!))
    return 0
  }
  const audit = (event: { op: 'redrive' | 'purge'; letter: Letter }) => {
    const { letter } = event
    const to = letter.subject === undefined ? { queue: letter.queue } : { subject: letter.subject }
    io.stderr.write(
      `${JSON.stringify({ op: event.op, at: new Date().toISOString(), id: letter.id, ...(event.op === 'purge' ? { queue: letters.queue } : to), code: letter.code, trace: letter.trace })}\n`,
    )
  }
  if (op === 'redrive') {
    const { redriven, skipped } = await letters.redrive(filter, audit)
    writeJson(io.stdout, {
      queue: letters.queue,
      redriven: redriven.length,
      ...(skipped === undefined ? {} : { skipped: skipped.length }),
    })
    return 0
  }
  if (!boolFlag(args, 'yes')) {
    const { letters: doomed } = await letters.list({ ...filter, count: filter.count ?? Number.MAX_SAFE_INTEGER })
    io.stderr.write(`purge ${doomed.length} dead letter(s) from ${letters.queue} for good? type "yes": `)
    const answer = await firstLine(io.stdin)
    if (answer.trim().toLowerCase() !== 'yes') {
      io.stderr.write('not confirmed: nothing purged\n')
      return 1
    }
  }
  const { purged } = await letters.purge(filter, audit)
  writeJson(io.stdout, { queue: letters.queue, purged: purged.length })
  return 0
}

/** The filter flags: `--code`, `--older-than 10m`, `--id a,b`, `--count n`. */
function filterOf(args: Args): DeadLetterFilter {
  const code = stringFlag(args, 'code')
  if (code !== undefined && !/^[A-Z][A-Z_]*$/.test(code))
    throw new UsageError(`--code takes an error code like INVALID_MESSAGE, not "${code}"`)
  const countText = stringFlag(args, 'count')
  if (countText !== undefined && !/^[1-9]\d*$/.test(countText))
    throw new UsageError(`--count takes a whole number above 0, not "${countText}"`)
  const ids = stringFlag(args, 'id')
  const older = stringFlag(args, 'older-than')
  return {
    code,
    count: countText === undefined ? undefined : Number(countText),
    ids: ids === undefined ? undefined : ids.split(',').filter((s) => s !== ''),
    olderThanMs: older === undefined ? undefined : duration(older),
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `500ms`, `30s`, `10m`, `2h`, `1d`, or a bare number of ms. */
function duration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text)
  if (m === null) throw new UsageError(`--older-than takes a duration like 30s, 10m, 2h or 1d, not "${text}"`)
  return Number(m[1]) * UNITS[m[2] ?? 'ms']!
}

/** The first line typed on stdin (empty at its end). */
async function firstLine(stdin: AsyncIterable<string | Uint8Array>): Promise<string> {
  let text = ''
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    const nl = text.indexOf('\n')
    if (nl >= 0) return text.slice(0, nl)
  }
  return text
}
