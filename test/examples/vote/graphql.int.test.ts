import { expect } from 'chai'
import { createClient as createSseClient } from 'graphql-sse'
import { createClient as createWsClient } from 'graphql-ws'
import type { Stoa } from 'stoa'
import { signToken } from 'stoa/jwt'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import postgres from 'stoa/postgres'
import WebSocket from 'ws'
import { authService } from '../../../examples/vote/services/auth.js'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import { resultsService } from '../../../examples/vote/services/results.js'
import { tallyService } from '../../../examples/vote/services/tally.js'
import type { GatewayServer } from '../../../examples/vote/web/server.js'
import { serveGateway } from '../../../examples/vote/web/server.js'
import { waitFor } from '../../helpers/wait.js'

const SECRET = 'vote-graphql-test-secret-of-forty-chars'

interface Counts {
  cats: number
  dogs: number
  total: number
  duplicates: number
}

/**
 * The vote system embedded (the real tally on PGlite, results reading its tables, auth, two
 * gateways on one memory bus): the gateways' GraphQL subscriptions are pushed what the tally
 * commits, whichever gateway took the vote.
 */
describe('examples/vote GraphQL subscriptions: resultsChanged after every committed vote', function () {
  this.timeout(60000)
  const services: Stoa<any>[] = []
  const servers: GatewayServer[] = []

  before(async () => {
    const bus = createMemoryBus()
    const memory = () => createMemoryTransport({ bus })
    const tally = tallyService({ dataDir: 'memory://' }).create()
    tally.listen(memory()).client(memory())
    await tally.ready()
    const results = resultsService({ database: () => tally.handleOf(postgres).db }).create()
    results.listen(memory())
    const auth = authService(SECRET).create()
    auth.listen(memory()).client(memory())
    const gateways = [gatewayService(SECRET).create(), gatewayService(SECRET).create()]
    for (const g of gateways) g.client(memory(), ['role:auth', 'role:results']).listen(memory())
    services.push(tally, results, auth, ...gateways)
    await Promise.all(services.map((s) => s.ready()))
    for (const g of gateways) servers.push(await serveGateway(g))
  })
  after(async () => {
    for (const s of servers) await s.close()
    for (const s of services.reverse()) await s.close()
  })

  const token = (sub: string) => signToken({ sub, roles: ['voter'] }, { secret: SECRET, expiresInSec: 60 })
  const vote = (url: string, voter: string, choice: string) =>
    fetch(`${url}/api/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token(voter)}` },
      body: JSON.stringify({ choice }),
    })

  /** How many votes were cast so far, each by a voter of its own. */
  let voters = 0
  /** Counts as the tests cast them. */
  const cast = { cats: 0, dogs: 0 }

  for (const protocol of ['WebSocket', 'server-sent events'] as const)
    it(`pushes the counts over ${protocol} once the vote cast on the other gateway is committed`, () =>
      pushesCounts(
        protocol === 'WebSocket'
          ? createWsClient({
              url: `${servers[1]!.url.replace('http', 'ws')}/api/graphql`,
              webSocketImpl: WebSocket,
              retryAttempts: 0,
            })
          : createSseClient({ url: `${servers[1]!.url}/api/graphql`, retryAttempts: 0 }),
      ))

  async function pushesCounts(client: {
    subscribe: ReturnType<typeof createWsClient>['subscribe']
    dispose(): unknown
  }): Promise<void> {
    const pushed: Counts[] = []
    let failed: unknown
    const stop = client.subscribe(
      { query: 'subscription { resultsChanged }' },
      {
        next: (r) => void pushed.push((r.data as { resultsChanged: Counts }).resultsChanged),
        error: (e) => void (failed = e),
        complete: () => undefined,
      },
    )
    try {
      // The subscription is live a moment after it is sent: votes are cast until one is pushed.
      for (let i = 0; i < 50 && pushed.length === 0 && failed === undefined; i++) {
        expect((await vote(servers[0]!.url, `voter-${voters++}`, 'dogs')).status).to.equal(202)
        cast.dogs++
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(failed).to.equal(undefined)
      await waitFor(() => pushed.length > 0, 'a first push')
      // Every push says at least what was committed when its event was emitted; the last says all.
      await waitFor(() => pushed.at(-1)!.dogs === cast.dogs, 'the counts of every warm-up vote')
      expect((await vote(servers[0]!.url, `voter-${voters++}`, 'cats')).status).to.equal(202)
      cast.cats++
      await waitFor(() => pushed.some((p) => p.cats === cast.cats), 'the counts with the cat vote')
      expect(pushed.at(-1)).to.deep.equal({ ...cast, total: cast.cats + cast.dogs, duplicates: 0 })
    } finally {
      stop()
      await client.dispose()
    }
  }
})
