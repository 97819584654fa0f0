import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Message } from '../../actions/index.js'
import { StoaError } from '../../actions/index.js'
import type {
  EventRecords,
  StreamClient,
  StreamEvent,
  StreamOpen,
  StreamSource,
  WebHost,
  WebResponse,
} from '../../actions/transport.js'
import { mergeMessages, Sweeper } from '../../actions/transport.js'

/** The stream connections one loading of the web plugin holds, over all its stream routes. */
export interface ConnectionCount {
  n: number
  readonly max: number
}

/**
 * One stream route's events on this instance: a bounded buffer of the latest (for
 * `Last-Event-ID`) and the clients connected here. The web plugin feeds it from an
 * `{ each: 'instance' }` subscription, so every gateway instance hears every event and any
 * instance can serve any browser.
 */
export class StreamHub implements StreamSource {
  private seq = 0
  /** Ids from another instance, or from before a restart, never match one of ours. */
  private readonly epoch = randomUUID().slice(0, 8)
  private readonly ring: StreamEvent[] = []
  private readonly clients = new Set<StreamClient>()

  constructor(
    private readonly bufferSize: number,
    private readonly count: ConnectionCount,
  ) {}

  full(): boolean {
    return this.count.n >= this.count.max
  }

  join(client: StreamClient, lastEventId: string | undefined): () => void {
    if (lastEventId !== undefined) {
      const i = this.ring.findIndex((e) => e.id === lastEventId)
      if (i >= 0) for (const e of this.ring.slice(i + 1)) client.deliver(e)
    }
    this.clients.add(client)
    this.count.n++
    return () => {
      if (this.clients.delete(client)) this.count.n--
    }
  }

  /** Gives an event to every client connected here. */
  publish(name: string, data: Message): void {
    const event: StreamEvent = Object.freeze({ id: `${this.epoch}-${++this.seq}`, name, data })
    this.ring.push(event)
    if (this.ring.length > this.bufferSize) this.ring.shift()
    for (const c of this.clients) c.deliver(event)
  }

  /** How many clients are connected to this route here. */
  get size(): number {
    return this.clients.size
  }
}

/** Events a client may have waiting for its `map` action before it counts as too slow. */
const MAX_PENDING_MAPS = 64

/**
 * A client's view of the stream: each event as is, or through the route's `map` action run
 * with the client's identity (null or undefined skips it), in order. `send` writes one event;
 * `drop` ends the connection (too slow, or its identity no longer allowed to see the stream).
 */
export function mappedClient(
  host: WebHost,
  open: StreamOpen,
  send: (event: StreamEvent, data: unknown) => void,
  drop: (why: string) => void,
): StreamClient {
  const map = open.route.stream!.map
  if (map === undefined) return { deliver: (e) => send(e, e.data) }
  let chain: Promise<void> = Promise.resolve()
  let pending = 0
  let dropped = false
  return {
    deliver(e) {
      if (dropped) return
      if (pending >= MAX_PENDING_MAPS) {
        dropped = true
        return drop('too slow')
      }
      pending++
      const msg = mergeMessages(open.msg, { event: e.name, data: e.data })
      const mapped = host.act(map, msg, { ...open.opts, id: undefined })
      chain = chain.then(() =>
        mapped.then(
          (out) => {
            pending--
            if (!dropped && out !== undefined && out !== null) send(e, out)
          },
          (err: unknown) => {
            pending--
            // An identity that may no longer see the stream loses it; any other failure skips the event.
            const code = err instanceof StoaError ? err.code : undefined
            if (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') {
              dropped = true
              return drop(code)
            }
            host.log.warn({ err: String(err), pattern: map, event: e.name }, 'a stream map action failed')
          },
        ),
      )
    },
  }
}

/** Whether a pipeline's answer is a stream route's connection to hold open. */
export function isStream(out: WebResponse | StreamOpen | EventRecords): out is StreamOpen {
  return (out as StreamOpen).kind === 'stream'
}

/** Whether a pipeline's answer is a route's own event stream (GraphQL over server-sent events). */
export function isRecords(out: WebResponse | StreamOpen | EventRecords): out is EventRecords {
  return (out as EventRecords).kind === 'records'
}

/**
 * Writes a route's own event stream on `res`, each record as it comes, until its iterator ends
 * or the client goes away (which returns the iterator, ending what feeds it). A client with
 * more than `maxBufferedBytes` unsent is dropped rather than buffered without bound.
 */
export function serveRecords(res: ServerResponse, out: EventRecords, host: WebHost, held: OpenStreams): void {
  res.writeHead(200, {
    ...out.headers,
    // nginx buffers proxied answers unless told not to: an event must not wait in it.
    'x-accel-buffering': 'no',
  })
  res.socket?.setNoDelay(true)
  res.socket?.setTimeout(0)
  let ended = false
  const end = (drop = false): void => {
    if (ended) return
    ended = true
    held.delete(stop)
    void out.records.return?.()?.catch(() => undefined)
    if (drop) res.destroy()
    else res.end()
  }
  const stop = (): void => end()
  held.add(stop)
  res.on('close', stop)
  void (async () => {
    try {
      for (;;) {
        const r = await out.records.next()
        if (r.done === true || ended) break
        if (res.writableLength > out.maxBufferedBytes) {
          host.log.warn({ buffered: res.writableLength }, 'a slow event-stream client was dropped')
          return end(true)
        }
        res.write(r.value)
      }
    } catch (err) {
      host.log.warn({ err: String(err) }, 'an event stream failed')
    }
    end()
  })()
}

/** The open stream connections a server holds, to end them when it closes. */
export type OpenStreams = Set<() => void>

/**
 * Holds a server-sent events response open on `res`: events as `id`/`event`/`data` records,
 * a comment every `heartbeatMs` of the instance's clock (so proxies keep the connection), and the connection dropped
 * when more than `maxBufferedBytes` wait unsent, rather than buffered without bound.
 */
export function serveEventStream(res: ServerResponse, open: StreamOpen, host: WebHost, held: OpenStreams): void {
  const s = open.route.stream!
  res.writeHead(200, {
    ...open.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers proxied answers unless told not to: an event must not wait in it.
    'x-accel-buffering': 'no',
  })
  res.socket?.setNoDelay(true)
  res.socket?.setTimeout(0)
  let ended = false
  let leave: (() => void) | undefined
  const end = (): void => {
    if (ended) return
    ended = true
    beat.stop()
    leave?.()
    held.delete(end)
    res.end()
  }
  const write = (chunk: string): void => {
    if (ended) return
    if (res.writableLength > s.maxBufferedBytes) {
      host.log.warn({ route: open.route.path, buffered: res.writableLength }, 'a slow stream client was dropped')
      ended = true
      beat.stop()
      leave?.()
      held.delete(end)
      res.destroy()
      return
    }
    res.write(chunk)
  }
  const client = mappedClient(
    host,
    open,
    (e, data) => write(`id: ${e.id}\nevent: ${e.name}\ndata: ${JSON.stringify(data)}\n\n`),
    end,
  )
  // On the instance's clock: under a virtual one a heartbeat goes out when the test moves time.
  const beat = new Sweeper(
    s.heartbeatMs,
    () => {
      write(': heartbeat\n\n')
      return !ended
    },
    host.clock,
  )
  beat.arm()
  held.add(end)
  res.on('close', end)
  // The first bytes go out now, so the client (and any proxy) sees the stream is open.
  res.write(': open\n\n')
  leave = s.source.join(client, open.lastEventId)
}
