import { expect } from 'chai'
import WebSocket from 'ws'
import { createStoa } from '../../../actions/index.js'
import type { Harness } from '../../../plugins/testing/index.js'
import { createHarness } from '../../../plugins/testing/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { waitFor } from '../../helpers/wait.js'

/*
 * Stream heartbeats (the SSE comment, the WebSocket ping) are timed by the instance's clock:
 * under the virtual clock of stoa/testing one goes out when the test moves time past
 * `heartbeatMs`, here a minute, which the machine's clock does not reach during the test.
 */
describe('web plugin on the virtual clock: stream heartbeats follow the test time', function () {
  this.timeout(20_000)
  let h: Harness
  const closers: (() => unknown)[] = []

  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
    await h?.close()
  })

  /** A gateway in the harness, served over HTTP, streaming vote events, a heartbeat a minute. */
  async function gateway(): Promise<string> {
    h = createHarness()
    const svc = await h.start((o) =>
      createStoa({ name: 'gateway', ...o }).use(web, {
        streams: { '/live': 'vote.*' },
        stream: { heartbeatMs: 60_000 },
      }),
    )
    const server = await serveWeb(svc.instances()[0]!)
    closers.push(() => server.close())
    return server.url
  }

  it('writes an SSE heartbeat each time the clock passes heartbeatMs', async () => {
    const url = await gateway()
    const abort = new AbortController()
    const res = await fetch(`${url}/live`, { signal: abort.signal })
    closers.push(() => abort.abort())
    let text = ''
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          text += Buffer.from(chunk).toString('utf8')
      } catch {
        // aborted
      }
    })()
    await waitFor(() => text.includes(': open'), 'the stream to open')
    await h.advance('59s')
    expect(text).to.not.include('heartbeat')
    await h.advance('1s')
    await waitFor(() => text.includes(': heartbeat'), 'a heartbeat')
    await h.advance('2m')
    await waitFor(() => text.split(': heartbeat').length - 1 === 3, 'two more heartbeats')
  })

  it('pings a WebSocket client each time the clock passes heartbeatMs', async () => {
    const url = await gateway()
    const conn = new WebSocket(`${url.replace(/^http/, 'ws')}/live`)
    closers.push(() => conn.terminate())
    let pings = 0
    let replies = 0
    conn.on('ping', () => pings++)
    conn.on('message', () => replies++)
    await new Promise<void>((resolve, reject) => {
      conn.once('open', () => resolve())
      conn.once('error', reject)
    })
    await h.advance('59s')
    expect(pings).to.equal(0)
    // The client answers each ping (ws does), so the server keeps it and pings again.
    for (let n = 1; n <= 3; n++) {
      await h.advance('1m')
      await waitFor(() => pings === n, `ping ${n}`)
      // A frame after the pong, answered (as not JSON) once the server read both: the pong is
      // in before the clock moves on.
      conn.send('x')
      await waitFor(() => replies === n, `reply ${n}`)
    }
    expect(conn.readyState).to.equal(WebSocket.OPEN)
  })
})
