import type { JetStreamClient, JetStreamManager, StreamConfig } from '@nats-io/jetstream'
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node'
import type { Logger, TransportObserver } from '../../actions/transport.js'
import { loadPeer, StoaError } from '../../actions/transport.js'
import { Replies } from './replies.js'

type NatsModule = typeof import('@nats-io/transport-node')
type JetStreamModule = typeof import('@nats-io/jetstream')

/** Settings of a {@link Link}. */
export interface LinkSettings {
  readonly url: string
  readonly connectionName: string
  readonly reconnectWaitMs: number
  readonly log: Logger
  /** Told of each reconnection. */
  readonly observer: TransportObserver
}

/** What a connected link offers its users. */
export interface Connected {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** A fresh, empty header set. */
  readonly headers: () => MsgHdrs
  /** The connection's one reply subject, for acts and JetStream publishes. */
  readonly replies: Replies
}

/**
 * One NATS connection, shared by a transport's listening and client sides. Reconnection is the
 * client's own: nats.js reconnects for ever, resubscribes, and holds what is published meanwhile
 * in its buffer; JetStream pull consumers resume by themselves. The link only watches the
 * connection's status, so readiness is false while it is down. The first connect fails fast
 * with `UNAVAILABLE`, so a service started against a missing server says so.
 */
export class Link {
  private conn: Promise<Connected> | undefined
  private current: Connected | undefined
  private up = false
  private closed = false
  private readonly streams = new Map<string, Promise<void>>()

  constructor(private readonly settings: LinkSettings) {}

  /** The connection once made (it may be down, reconnecting, or closed since). */
  get connected(): Connected | undefined {
    return this.current
  }

  /** Connects once; later calls wait for the same connection. */
  connect(): Promise<Connected> {
    this.conn ??= this.open().catch((err: unknown) => {
      this.conn = undefined
      throw err instanceof StoaError ? err : unavailable('cannot connect to the NATS server', err)
    })
    return this.conn
  }

  /** Whether the connection can carry work now. */
  health(): { ready: true } | { ready: false; reason: string } {
    if (this.closed) return { ready: false, reason: 'the nats transport is closed' }
    if (this.current === undefined) return { ready: true }
    if (!this.up) return { ready: false, reason: 'the NATS server connection is down' }
    return { ready: true }
  }

  /**
   * Makes sure a stream exists with this configuration (once per link and stream). A stream
   * made elsewhere with other settings is updated to these when JetStream allows it.
   */
  ensureStream(c: Connected, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    let p = this.streams.get(cfg.name)
    if (p === undefined) {
      p = ensure(c.jsm, cfg).catch((err: unknown) => {
        this.streams.delete(cfg.name)
        throw err instanceof StoaError ? err : unavailable(`cannot create the stream "${cfg.name}"`, err)
      })
      this.streams.set(cfg.name, p)
    }
    return p
  }

  /** Forgets that a stream was made, so the next use makes it again (it was deleted, or lost with its server). */
  forgetStream(name: string): void {
    this.streams.delete(name)
  }

  /** Flushes what is buffered and closes the connection (nats.js `drain`). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const c = await this.conn?.catch(() => undefined)
    if (c === undefined || c.nc.isClosed()) return
    await c.nc.drain().catch(() => c.nc.close())
  }

  private async open(): Promise<Connected> {
    const [nats, jetstream] = await Promise.all([
      loadPeer<NatsModule>('@nats-io/transport-node', 'stoa/nats'),
      loadPeer<JetStreamModule>('@nats-io/jetstream', 'stoa/nats'),
    ])
    if (this.closed) throw new StoaError('CLOSED', 'the nats transport is closed')
    const nc = await nats.connect({
      servers: this.settings.url.split(',').map((s) => s.trim()),
      name: this.settings.connectionName,
      maxReconnectAttempts: -1,
      reconnectTimeWait: this.settings.reconnectWaitMs,
      // The first connect reports a missing server at once; later losses reconnect for ever.
      waitOnFirstConnect: false,
      // No stack captured per request: a library stack never reaches a caller, and capturing
      // one costs more than the rest of a request on the client.
      noAsyncTraces: true,
    })
    const c: Connected = {
      nc,
      js: jetstream.jetstream(nc),
      jsm: await jetstream.jetstreamManager(nc),
      headers: () => nats.headers(),
      replies: new Replies(nc, nats.createInbox()),
    }
    this.current = c
    this.up = true
    void this.watch(nc)
    return c
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.up = false
        this.settings.log.warn({ server: s.server }, 'nats: disconnected; reconnecting')
      } else if (s.type === 'reconnect') {
        this.up = true
        this.settings.log.info({ server: s.server }, 'nats: reconnected')
        this.settings.observer.reconnected?.()
      } else if (s.type === 'close') this.up = false
    }
  }
}

async function ensure(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(cfg)
  } catch (err) {
    // 10058: the name is in use with another configuration (a replica count changed, say).
    if ((err as { code?: unknown }).code !== 10058 && !/already in use/i.test(String((err as Error).message))) throw err
    const { name, retention: _fixed, ...rest } = cfg
    await jsm.streams.update(name, rest)
  }
}

/**
 * An `UNAVAILABLE` error for a NATS failure: the library's message stays in `cause`, for the
 * log, and never reaches a caller.
 */
export function unavailable(message: string, cause?: unknown): StoaError {
  return new StoaError('UNAVAILABLE', message, undefined, cause === undefined ? undefined : { cause })
}
