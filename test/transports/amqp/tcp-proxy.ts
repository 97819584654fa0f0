import type { Socket } from 'node:net'
import { connect, createServer } from 'node:net'

/** A TCP proxy a test puts between a client and a server, to fail the network on demand. */
export interface TcpProxy {
  /** `host:port` to connect to instead of the server. */
  readonly address: string
  /**
   * Black-holes the link: the connections stay open but nothing passes either way, as when a
   * host or a route goes away without a reset. What was sent meanwhile is held, not dropped (TCP
   * would retransmit it), and passes once {@link TcpProxy.restore} is called. `'replies'` holds
   * only what the server sends: the client's bytes still arrive, their answers do not (a publish
   * that reached the broker and whose confirm is lost on the way back).
   */
  blackhole(direction?: 'both' | 'replies'): void
  /** Cuts the link: every connection is reset, and new ones are refused until restored. */
  cut(): void
  /** Lets traffic pass again. */
  restore(): void
  /** How many client connections it accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

/** One proxied connection and what the black hole holds back on it. */
interface Link {
  readonly client: Socket
  readonly upstream: Socket
  readonly held: [Socket, Buffer][]
}

/** Starts a proxy on 127.0.0.1, port 0, to `host:port`. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  let mode: 'open' | 'blackhole' | 'replies' | 'cut' = 'open'
  let accepted = 0
  const links = new Set<Link>()
  const server = createServer((client) => {
    if (mode === 'cut') return void client.resetAndDestroy()
    accepted++
    const upstream = connect(port, host)
    const link: Link = { client, upstream, held: [] }
    links.add(link)
    const end = () => {
      links.delete(link)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    // Forwarded by hand rather than piped: a pipe resumes a paused socket on `drain`.
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (mode === 'blackhole' || (mode === 'replies' && to === client)) link.held.push([to, chunk])
      else to.write(chunk)
    }
    client.on('data', forward(upstream))
    upstream.on('data', forward(client))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port: own } = server.address() as { port: number }
  return {
    address: `127.0.0.1:${own}`,
    get accepted() {
      return accepted
    },
    blackhole(direction = 'both') {
      mode = direction === 'both' ? 'blackhole' : 'replies'
    },
    cut() {
      mode = 'cut'
      for (const link of [...links]) {
        link.client.resetAndDestroy()
        link.upstream.resetAndDestroy()
      }
      links.clear()
    },
    restore() {
      mode = 'open'
      // In order, as TCP would deliver what it retransmits.
      for (const link of links) for (const [to, chunk] of link.held.splice(0)) to.write(chunk)
    },
    close() {
      for (const link of links) {
        link.client.destroy()
        link.upstream.destroy()
      }
      links.clear()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
