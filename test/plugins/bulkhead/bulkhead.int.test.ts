import { expect } from 'chai'
import type { Stoa, StoaError } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import bulkhead from '../../../plugins/bulkhead/index.js'
import type { WebServer } from '../../../plugins/web/index.js'
import web, { serveWeb } from '../../../plugins/web/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

/**
 * A pool of database connections shared by every action of the service: the resource a slow
 * action exhausts when nothing bounds it, starving the fast actions that need it too.
 */
class Pool {
  private free: number
  private readonly waiting: (() => void)[] = []
  constructor(size: number) {
    this.free = size
  }
  async use<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.free > 0) this.free--
    else await new Promise<void>((r) => this.waiting.push(r))
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.free++
    }
  }
}

const SLOW_MS = 100

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

describe('bulkhead plugin over HTTP', function () {
  this.timeout(60000)
  let server: Stoa<any>
  let client: Stoa<any>
  let front: WebServer
  let url: string

  before(async () => {
    const pool = new Pool(8)
    const transport = createHttpTransport()
    server = createStoa({ name: 'reports', logger: quietLogger() })
      .use(bulkhead)
      .add(
        'role:report,cmd:slow',
        () => pool.use(() => new Promise((r) => setTimeout(() => r({ slow: true }), SLOW_MS))),
        {
          bulkhead: { concurrency: 4, queue: 4 },
        },
      )
      .add('role:report,cmd:fast', () => pool.use(() => ({ fast: true })))
      .use(web, { routes: { 'GET /slow': 'role:report,cmd:slow' } })
      .listen(transport)
    await server.ready()
    front = await serveWeb(server)
    url = transport.address()!
    client = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createHttpTransport({ url, maxSockets: 256 }),
      ['role:report'],
    )
    await client.ready()
  })

  after(async () => {
    await client?.close()
    await front?.close()
    await server?.close()
  })

  it('answers a call past the limit with 503 OVERLOADED and Retry-After at once, on the transport and the web route', async () => {
    const hold = Array.from({ length: 8 }, () => client.act('role:report,cmd:slow'))
    await new Promise((r) => setTimeout(r, 20))
    const started = Date.now()
    const res = await rawRequest(url, 'POST', '/act', {
      body: '{"role":"report","cmd":"slow"}',
      headers: { 'content-type': 'application/json' },
    })
    expect(Date.now() - started).to.be.below(SLOW_MS)
    expect(res.status).to.equal(503)
    expect(res.json.code).to.equal('OVERLOADED')
    expect(res.headers['retry-after']).to.equal('1')
    const viaWeb = await rawRequest(front.url, 'GET', '/slow')
    expect(viaWeb.status).to.equal(503)
    expect(viaWeb.headers['retry-after']).to.equal('1')
    const err = (await client.act('role:report,cmd:slow').catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('OVERLOADED')
    await Promise.all(hold)
  })

  // The one latency comparison the issue asks for in a test. The machine is shared and busy,
  // so one p99 is noise: each phase is measured seven times, 400 calls each (a p99 of 200
  // calls is its second-worst call alone), and the medians of the seven p99s are compared,
  // with a 2 ms floor under the unloaded figure (a timer tick on a loaded host).
  // Without the bulkhead, the flood holds all eight pool connections and a fast call waits
  // behind ~30 slow ones (hundreds of ms): far outside the bound, so the test fails then.
  it("keeps another action's p99 within 2x its unloaded p99 while one action is saturated at its limit", async () => {
    const measure = async (): Promise<number> => {
      const times: number[] = []
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 100; i++) {
            const t = performance.now()
            await client.act('role:report,cmd:fast')
            times.push(performance.now() - t)
          }
        }),
      )
      return percentile(
        times.sort((a, b) => a - b),
        99,
      )
    }
    // Warm the connections and the code paths first.
    await measure()
    const unloaded: number[] = []
    for (let run = 0; run < 7; run++) unloaded.push(await measure())

    // 16 callers keep the slow action at its limit (4 running, 4 waiting: 40 calls a second
    // served, twice that offered); a refused one comes back after 100 ms, as Retry-After asks,
    // rather than spinning, so the refusals do not eat the CPU being measured.
    let flooding = true
    let served = 0
    let refused = 0
    const flood = Array.from({ length: 16 }, async () => {
      while (flooding) {
        try {
          await client.act('role:report,cmd:slow')
          served++
        } catch (err) {
          if ((err as StoaError).code !== 'OVERLOADED') throw err
          refused++
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    })
    await new Promise((r) => setTimeout(r, 200))
    const loaded: number[] = []
    for (let run = 0; run < 7; run++) loaded.push(await measure())
    flooding = false
    await Promise.all(flood)

    const before = Math.max(2, median(unloaded))
    const during = median(loaded)
    expect(refused, 'the slow action was past its limit').to.be.above(0)
    expect(served, 'the slow action kept serving at its limit').to.be.above(0)
    expect(
      during,
      `fast p99 ${during.toFixed(2)} ms loaded vs ${median(unloaded).toFixed(2)} ms unloaded`,
    ).to.be.at.most(2 * before)
  })
})
