import type { Channel, ChannelModel, ConfirmChannel, GetMessage } from 'amqplib'
import { loadPeer, StoaError } from '../../actions/transport.js'
import { names } from './topology.js'
import type { DeadLetterInfo } from './wire.js'
import { deadLetterInfo, redriveCopy } from './wire.js'

/** Which dead letters an operation takes. Every field narrows; none takes them all. */
export interface DeadLetterFilter {
  /** Only those that failed with this error code (`INVALID_MESSAGE`). */
  readonly code?: string | undefined
  /** Only those dead-lettered at least this long ago, ms (a letter that does not say when is not taken). */
  readonly olderThanMs?: number | undefined
  /** Only these message ids. */
  readonly ids?: readonly string[] | undefined
  /** At most this many, oldest first. */
  readonly count?: number | undefined
}

/** One dead letter as listed: why it failed, how often, its trace and its age. */
export interface DeadLetter extends DeadLetterInfo {
  /** How long ago it was dead-lettered, ms; undefined when the copy does not say. */
  readonly ageMs: number | undefined
}

/** One dead letter in full: its headers and its body as well. */
export interface DeadLetterDetail extends DeadLetter {
  readonly headers: Readonly<Record<string, unknown>>
  readonly properties: Readonly<Record<string, unknown>>
  /** The body as JSON when it parses, else as text. */
  readonly body: unknown
}

/** Where the dead letters are: the broker, the names' prefix and the service. */
export interface DeadLetterOptions {
  /** Broker URL. */
  readonly url: string
  /** First segment of the queue names. Default `stoa`. */
  readonly prefix?: string | undefined
  /** The service whose dead-letter queue (`<prefix>.dlq.<service>`) this reads. */
  readonly service: string
}

/** What happened to one dead letter in a redrive or a purge, told as it happens. */
export type DeadLetterAudit = (event: { readonly op: 'redrive' | 'purge'; readonly letter: DeadLetter }) => void

/**
 * An operator's handle on one service's dead-letter queue, over AMQP alone (no management
 * plugin): messages are taken with `basic.get` and not acknowledged, so that each is seen once
 * per operation and goes back to the queue, in place, when the operation ends or its
 * connection drops.
 */
export interface DeadLetters {
  /** The queue's name. */
  readonly queue: string
  /** The letters the filter selects (at most `count`, default 100) and how many the queue holds. */
  list(filter?: DeadLetterFilter): Promise<{ readonly total: number; readonly letters: readonly DeadLetter[] }>
  /** One letter with its headers and body; `NOT_FOUND` when the queue holds no such id. */
  show(id: string): Promise<DeadLetterDetail>
  /**
   * Publishes each selected letter back to the queue it failed on, with its tries reset, and
   * removes the dead-letter copy only once the broker confirmed the new one: interrupted at any
   * point, a letter is in one place or (between confirm and removal) in both, never in none.
   */
  redrive(filter: DeadLetterFilter, audit?: DeadLetterAudit): Promise<{ readonly redriven: readonly DeadLetter[] }>
  /** Removes the selected letters for good. */
  purge(filter: DeadLetterFilter, audit?: DeadLetterAudit): Promise<{ readonly purged: readonly DeadLetter[] }>
  /** Closes the connection; letters still held go back to the queue. */
  close(): Promise<void>
}

/** What a scan does after one letter: whether it was acknowledged (removed), whether to go on. */
interface Step {
  readonly acked: boolean
  readonly stop: boolean
}
const KEEP: Step = { acked: false, stop: false }

/** Letters `list` shows when no count is given. */
const LIST_DEFAULT = 100

/**
 * Opens the dead-letter queue of `options.service`. The queue must exist (the service declares
 * it when it starts): a missing one is `NOT_FOUND`, an unreachable broker `UNAVAILABLE`.
 *
 * @example
 * const dlq = await openDeadLetters({ url: 'amqp://127.0.0.1', prefix: 'vote', service: 'tally' })
 * const { letters } = await dlq.list({ code: 'INVALID_MESSAGE' })
 * await dlq.close()
 */
export async function openDeadLetters(options: DeadLetterOptions): Promise<DeadLetters> {
  const amqp = await loadPeer<typeof import('amqplib')>('amqplib', 'stoa dlq')
  const queue = names(options.prefix ?? 'stoa').dlq(options.service)
  let model: ChannelModel
  try {
    model = await amqp.connect(options.url, { clientProperties: { connection_name: `stoa dlq ${queue}` } })
  } catch (err) {
    throw new StoaError('UNAVAILABLE', `cannot reach the broker: ${(err as Error).message}`, undefined, { cause: err })
  }
  // A failed passive declare closes its channel: checked on a channel of its own.
  const total = async (): Promise<number> => {
    const ch = await model.createChannel()
    ch.on('error', () => undefined)
    try {
      return (await ch.checkQueue(queue)).messageCount
    } catch {
      throw new StoaError('NOT_FOUND', `no dead-letter queue ${queue}: has service "${options.service}" started?`, {
        queue,
      })
    } finally {
      await ch.close().catch(() => undefined)
    }
  }
  try {
    await total()
  } catch (err) {
    await model.close().catch(() => undefined)
    throw err
  }

  /**
   * Takes the letters one by one without acknowledging them, passing each to `take`, until
   * `take` says stop or every letter the queue held at the start was seen: a letter that comes
   * in meanwhile (a redriven one failing again, say) waits for the next operation. Then gives
   * back, in place, what `take` did not acknowledge; the channel closing (here or by a crash)
   * gives them back too.
   */
  async function scan(take: (m: GetMessage, info: DeadLetter, ch: Channel) => Promise<Step>): Promise<void> {
    const limit = await total()
    const ch = await model.createChannel()
    ch.on('error', () => undefined)
    const held: GetMessage[] = []
    try {
      for (let seen = 0; seen < limit; seen++) {
        const m = await ch.get(queue, { noAck: false })
        if (m === false) break
        const info = deadLetterInfo(m)
        const letter = { ...info, ageMs: info.deadAt === undefined ? undefined : Math.max(0, Date.now() - info.deadAt) }
        const step = await take(m, letter, ch)
        if (!step.acked) held.push(m)
        if (step.stop) break
      }
      for (const m of held) ch.nack(m, false, true)
    } finally {
      await ch.close().catch(() => undefined)
    }
  }

  function selects(filter: DeadLetterFilter, letter: DeadLetter): boolean {
    if (filter.code !== undefined && letter.code !== filter.code) return false
    if (filter.ids !== undefined && !filter.ids.includes(letter.id)) return false
    if (filter.olderThanMs !== undefined && (letter.ageMs === undefined || letter.ageMs < filter.olderThanMs))
      return false
    return true
  }

  /** Runs `act` on each selected letter, up to `filter.count`; `act` acknowledges what it removes. */
  async function each(
    filter: DeadLetterFilter,
    act: (m: GetMessage, letter: DeadLetter, ch: Channel) => Promise<boolean>,
  ): Promise<DeadLetter[]> {
    const done: DeadLetter[] = []
    await scan(async (m, letter, ch) => {
      if (!selects(filter, letter)) return KEEP
      const acked = await act(m, letter, ch)
      if (acked) done.push(letter)
      return { acked, stop: filter.count !== undefined && done.length >= filter.count }
    })
    return done
  }

  let confirm: ConfirmChannel | undefined
  /** The channel redrives publish on: confirms on, and unroutable copies returned. */
  async function confirmChannel(): Promise<ConfirmChannel> {
    if (confirm !== undefined) return confirm
    const ch = await model.createConfirmChannel()
    ch.on('error', () => undefined)
    confirm = ch
    return ch
  }

  return {
    queue,
    async list(filter = {}) {
      const count = filter.count ?? LIST_DEFAULT
      const letters: DeadLetter[] = []
      const all = await total()
      await scan(async (_m, letter) => {
        if (selects(filter, letter)) letters.push(letter)
        return { acked: false, stop: letters.length >= count }
      })
      return { total: all, letters }
    },

    async show(id) {
      let found: DeadLetterDetail | undefined
      await scan(async (m, letter) => {
        if (letter.id !== id) return KEEP
        found = {
          ...letter,
          headers: { ...((m.properties.headers ?? {}) as Record<string, unknown>) },
          properties: Object.fromEntries(
            Object.entries(m.properties).filter(([k, v]) => k !== 'headers' && v !== undefined),
          ),
          body: parsed(m.content),
        }
        return { acked: false, stop: true }
      })
      if (found === undefined) throw new StoaError('NOT_FOUND', `no dead letter ${id} in ${queue}`, { queue, id })
      return found
    },

    async redrive(filter, audit) {
      const pub = await confirmChannel()
      const redriven = await each(filter, async (m, letter, ch) => {
        if (letter.queue === '') return false
        await republish(pub, letter.queue, m)
        // Only now is the copy in its queue for sure: the dead letter may go.
        ch.ack(m)
        audit?.({ op: 'redrive', letter })
        return true
      })
      return { redriven }
    },

    async purge(filter, audit) {
      const purged = await each(filter, async (m, letter, ch) => {
        ch.ack(m)
        audit?.({ op: 'purge', letter })
        return true
      })
      return { purged }
    },

    async close() {
      await confirm?.close().catch(() => undefined)
      await model.close().catch(() => undefined)
    },
  }
}

/**
 * Publishes the redrive copy of `m` to `queue` through the default exchange and waits for the
 * broker's confirm. Mandatory: a queue that no longer exists returns the copy (basic.return
 * comes before the confirm), which fails the redrive of that letter, and the letter stays.
 */
function republish(ch: ConfirmChannel, queue: string, m: GetMessage): Promise<void> {
  const { body, props } = redriveCopy(m)
  return new Promise((resolve, reject) => {
    let returned = false
    const onReturn = (r: { fields: { routingKey: string } }) => {
      if (r.fields.routingKey === queue) returned = true
    }
    ch.on('return', onReturn)
    ch.publish('', queue, body, { ...props, mandatory: true }, (err) => {
      ch.off('return', onReturn)
      if (err !== null && err !== undefined)
        reject(new StoaError('UNAVAILABLE', `the broker refused the copy to ${queue}`))
      else if (returned)
        reject(new StoaError('NOT_FOUND', `queue ${queue} does not exist: the letter stays`, { queue }))
      else resolve()
    })
  })
}

function parsed(content: Buffer): unknown {
  const text = content.toString('utf8')
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
