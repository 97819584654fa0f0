import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream'
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node'
import { loadPeer, StoaError } from '../../actions/transport.js'
import { names } from './topology.js'
import { deadLetterReason, HEADERS } from './wire.js'

/** Which dead letters an operation takes. Every field narrows; none takes them all. */
export interface NatsDeadLetterFilter {
  /** Only those that failed with this error code (`INVALID_MESSAGE`). */
  readonly code?: string | undefined
  /** Only those stored in the dead-letter stream at least this long ago, ms. */
  readonly olderThanMs?: number | undefined
  /** Only these ids (the message id, or `seq-<n>` for one that has none). */
  readonly ids?: readonly string[] | undefined
  /** At most this many, oldest first. */
  readonly count?: number | undefined
}

/** One dead letter as listed: why it failed, how often, its trace and its age. */
export interface NatsDeadLetter {
  /** The message id (`stoa-id`), or `seq-<n>` when the letter has none. */
  readonly id: string
  /** Its sequence number in the dead-letter stream. */
  readonly seq: number
  readonly code: string
  readonly message: string
  readonly attempts: number
  /** The trace id: `stoa-trace`, else the message id. */
  readonly trace: string
  /** The subject it was published on, where a redrive sends a task back. */
  readonly subject: string
  /** When it was dead-lettered (ms since the epoch): the stream's own time for it. */
  readonly deadAt: number
  /** How long ago that was, ms. */
  readonly ageMs: number
}

/** One dead letter in full: its headers and its body as well. */
export interface NatsDeadLetterDetail extends NatsDeadLetter {
  readonly headers: Readonly<Record<string, readonly string[]>>
  /** The body as JSON when it parses, else as text. */
  readonly body: unknown
}

/** What happened to one dead letter in a redrive or a purge, told as it happens. */
export type NatsDeadLetterAudit = (event: { readonly op: 'redrive' | 'purge'; readonly letter: NatsDeadLetter }) => void

/** Where the dead letters are: the server, the names' prefix and the service. */
export interface NatsDeadLetterOptions {
  /** NATS server URL(s), comma-separated. */
  readonly url: string
  /** First token of the subjects and streams. Default `stoa`. */
  readonly prefix?: string | undefined
  /** The service whose dead-letter stream (`<prefix>_dlq_<service>`) this reads. */
  readonly service: string
}

/**
 * An operator's handle on one service's dead-letter stream (`<prefix>_dlq_<service>`, limits
 * retention). Letters are read by sequence without consuming them, so listing changes nothing.
 */
export interface NatsDeadLetters {
  /** The stream's name. */
  readonly queue: string
  /** The letters the filter selects (at most `count`, default 100) and how many the stream holds. */
  list(filter?: NatsDeadLetterFilter): Promise<{ readonly total: number; readonly letters: readonly NatsDeadLetter[] }>
  /** One letter with its headers and body; `NOT_FOUND` when the stream holds no such id. */
  show(id: string): Promise<NatsDeadLetterDetail>
  /**
   * Publishes each selected task back to its subject, with its tries reset (a new message: its
   * delivery count starts again) and the dead-letter headers removed, and deletes the dead
   * letter only once JetStream acknowledged the copy: interrupted at any point, a letter is in
   * one place or (between the ack and the delete) in both, never in none. An event is not
   * redriven: its subject reaches every subscribing service, not only the one that failed it;
   * it stays, and is counted in `skipped`.
   */
  redrive(
    filter: NatsDeadLetterFilter,
    audit?: NatsDeadLetterAudit,
  ): Promise<{ readonly redriven: readonly NatsDeadLetter[]; readonly skipped: readonly NatsDeadLetter[] }>
  /** Deletes the selected letters for good. */
  purge(
    filter: NatsDeadLetterFilter,
    audit?: NatsDeadLetterAudit,
  ): Promise<{ readonly purged: readonly NatsDeadLetter[] }>
  /** Closes the connection. */
  close(): Promise<void>
}

/** Letters `list` shows when no count is given. */
const LIST_DEFAULT = 100
/** How long a redriven copy waits for JetStream's ack. */
const PUBLISH_TIMEOUT_MS = 10_000
/** The headers only a dead letter carries, dropped from its redriven copy. */
const DEAD_LETTER_HEADERS: readonly string[] = [
  HEADERS.errorCode,
  HEADERS.errorMessage,
  HEADERS.attempts,
  HEADERS.subject,
]

/**
 * Opens the dead-letter stream of `options.service`. The stream must exist (the service makes
 * it when it starts): a missing one is `NOT_FOUND`, an unreachable server `UNAVAILABLE`.
 *
 * @example
 * const dlq = await openNatsDeadLetters({ url: 'nats://127.0.0.1:4222', prefix: 'vote', service: 'tally' })
 * const { letters } = await dlq.list({ code: 'INVALID_MESSAGE' })
 * await dlq.close()
 */
export async function openNatsDeadLetters(options: NatsDeadLetterOptions): Promise<NatsDeadLetters> {
  const [nats, jetstream] = await Promise.all([
    loadPeer<typeof import('@nats-io/transport-node')>('@nats-io/transport-node', 'stoa dlq'),
    loadPeer<typeof import('@nats-io/jetstream')>('@nats-io/jetstream', 'stoa dlq'),
  ])
  const n = names(options.prefix ?? 'stoa')
  const stream = n.dlqStream(options.service)
  let nc: NatsConnection
  try {
    nc = await nats.connect({ servers: options.url.split(',').map((s) => s.trim()), name: `stoa dlq ${stream}` })
  } catch (err) {
    throw new StoaError('UNAVAILABLE', 'cannot reach the NATS server', undefined, { cause: err })
  }
  let jsm: JetStreamManager
  let js: JetStreamClient
  try {
    jsm = await jetstream.jetstreamManager(nc)
    js = jetstream.jetstream(nc)
    await state()
  } catch (err) {
    await nc.close().catch(() => undefined)
    throw err
  }

  async function state(): Promise<{ first: number; last: number; messages: number }> {
    try {
      const s = (await jsm.streams.info(stream)).state
      return { first: s.first_seq, last: s.last_seq, messages: s.messages }
    } catch (err) {
      if ((err as { code?: unknown }).code === 10059 || /not found/i.test(String((err as Error).message)))
        throw new StoaError('NOT_FOUND', `no dead-letter stream ${stream}: has service "${options.service}" started?`, {
          queue: stream,
        })
      throw new StoaError('UNAVAILABLE', `cannot read the stream ${stream}`, undefined, { cause: err })
    }
  }

  /** Every letter now in the stream, oldest first, with its stored message, passed to `take` until it says stop. */
  async function scan(take: (m: StoredMsg, letter: NatsDeadLetter) => Promise<boolean>): Promise<void> {
    const { first, last, messages } = await state()
    if (messages === 0) return
    for (let seq = first; seq <= last; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq })
      if (m === null) continue
      if (await take(m, letterOf(m))) return
    }
  }

  function selects(filter: NatsDeadLetterFilter, letter: NatsDeadLetter): boolean {
    if (filter.code !== undefined && letter.code !== filter.code) return false
    if (filter.ids !== undefined && !filter.ids.includes(letter.id)) return false
    if (filter.olderThanMs !== undefined && letter.ageMs < filter.olderThanMs) return false
    return true
  }

  /** Runs `act` on each selected letter, up to `filter.count`; `act` says whether it was handled. */
  async function each(
    filter: NatsDeadLetterFilter,
    act: (m: StoredMsg, letter: NatsDeadLetter) => Promise<boolean>,
  ): Promise<{ done: NatsDeadLetter[]; left: NatsDeadLetter[] }> {
    const done: NatsDeadLetter[] = []
    const left: NatsDeadLetter[] = []
    await scan(async (m, letter) => {
      if (!selects(filter, letter)) return false
      if (await act(m, letter)) done.push(letter)
      else left.push(letter)
      return filter.count !== undefined && done.length >= filter.count
    })
    return { done, left }
  }

  /** The redriven copy's headers: the original's, without the dead-letter ones, its id and trace kept. */
  function redriveHeaders(m: StoredMsg, letter: NatsDeadLetter): MsgHdrs {
    const h = nats.headers()
    for (const k of m.header?.keys() ?? []) {
      if (DEAD_LETTER_HEADERS.includes(k)) continue
      for (const v of m.header!.values(k)) h.append(k, v)
    }
    // No Nats-Msg-Id: the task stream would drop the copy as a duplicate of the original
    // within its duplicate window. The receiver takes the id from stoa-id instead.
    h.set(HEADERS.trace, letter.trace)
    return h
  }

  return {
    queue: stream,
    async list(filter = {}) {
      const count = filter.count ?? LIST_DEFAULT
      const letters: NatsDeadLetter[] = []
      const { messages } = await state()
      await scan(async (_m, letter) => {
        if (selects(filter, letter)) letters.push(letter)
        return letters.length >= count
      })
      return { total: messages, letters }
    },

    async show(id) {
      let found: NatsDeadLetterDetail | undefined
      await scan(async (m, letter) => {
        if (letter.id !== id && `seq-${letter.seq}` !== id) return false
        const headers: Record<string, string[]> = {}
        for (const k of m.header?.keys() ?? []) headers[k] = m.header!.values(k)
        found = { ...letter, headers, body: parsed(m.string()) }
        return true
      })
      if (found === undefined)
        throw new StoaError('NOT_FOUND', `no dead letter ${id} in ${stream}`, { queue: stream, id })
      return found
    },

    async redrive(filter, audit) {
      const { done, left } = await each(filter, async (m, letter) => {
        if (!letter.subject.startsWith(n.taskBase)) return false
        let ack: { duplicate: boolean }
        try {
          ack = await js.publish(letter.subject, m.data, {
            headers: redriveHeaders(m, letter),
            timeout: PUBLISH_TIMEOUT_MS,
          })
        } catch (err) {
          throw new StoaError(
            'UNAVAILABLE',
            `no stream took the copy on ${letter.subject}: the letter stays`,
            {
              subject: letter.subject,
            },
            { cause: err },
          )
        }
        if (ack.duplicate) return false
        // Only now is the copy in its stream for sure: the dead letter may go.
        await jsm.streams.deleteMessage(stream, letter.seq, false)
        audit?.({ op: 'redrive', letter })
        return true
      })
      return { redriven: done, skipped: left }
    },

    async purge(filter, audit) {
      const { done } = await each(filter, async (_m, letter) => {
        await jsm.streams.deleteMessage(stream, letter.seq, false)
        audit?.({ op: 'purge', letter })
        return true
      })
      return { purged: done }
    },

    async close() {
      await nc.drain().catch(() => nc.close())
    },
  }
}

/** What an operator is shown of a stored dead letter. */
function letterOf(m: StoredMsg): NatsDeadLetter {
  const reason = deadLetterReason(m.header)
  const given = m.header?.get(HEADERS.id)
  const id = given === undefined || given === '' ? `seq-${m.seq}` : given
  const trace = m.header?.get(HEADERS.trace)
  const deadAt = m.time.getTime()
  return {
    id,
    seq: m.seq,
    code: reason.code,
    message: reason.message,
    attempts: reason.attempts,
    trace: trace === undefined || trace === '' ? id : trace,
    subject: reason.subject,
    deadAt,
    ageMs: Math.max(0, Date.now() - deadAt),
  }
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
