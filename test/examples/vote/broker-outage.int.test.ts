import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createAmqpTransport } from 'stoa/amqp'
import { signToken } from 'stoa/jwt'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import type { GatewayServer } from '../../../examples/vote/web/server.js'
import { serveGateway } from '../../../examples/vote/web/server.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'
import type { TcpProxy } from '../../transports/amqp/tcp-proxy.js'
import { startTcpProxy } from '../../transports/amqp/tcp-proxy.js'

const SECRET = 'vote-outage-test-secret-of-forty-characters'
/** Far beyond the transport's default publish wait (2 s), far below the vote's deadline. */
const BOUND_MS = 15_000

/**
 * A vote gateway whose broker stops answering (a TCP proxy this test black-holes; the machine's
 * RabbitMQ runs on for everyone else): the vote is answered 503 `UNAVAILABLE` once the publish
 * wait is over, so the client can retry elsewhere, and 202 again once the broker is back.
 */
describe('examples/vote gateway while its broker is unreachable', function () {
  this.timeout(60_000)
  const prefix = uniquePrefix('voteops-outage')
  let proxy: TcpProxy
  let gateway: Stoa<any>
  let server: GatewayServer
  const token = signToken({ sub: 'ada', roles: ['voter'] }, { secret: SECRET, expiresInSec: 600 })

  before(async () => {
    const broker = new URL(AMQP_URL)
    proxy = await startTcpProxy(broker.hostname, Number(broker.port || 5672))
    broker.host = proxy.address
    gateway = gatewayService(SECRET).create({ logger: quietLogger(), timeoutMs: 60_000 })
    gateway.client(createAmqpTransport({ url: broker.toString(), prefix, reconnectMinMs: 50, reconnectMaxMs: 200 }))
    await gateway.ready()
    server = await serveGateway(gateway)
  })
  after(async () => {
    proxy?.restore()
    await server?.close()
    await gateway?.close()
    await proxy?.close()
    await deleteTopology(prefix, ['tally'])
  })

  /** Casts a vote; resolves with its status and code, or `still waiting` past the bound. */
  async function vote(): Promise<[number | string, string?]> {
    const res = fetch(`${server.url}/api/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"choice":"cats"}',
      signal: AbortSignal.timeout(BOUND_MS),
    })
    try {
      const answer = await res
      const body = (await answer.json()) as { error?: { code: string } }
      return [answer.status, body.error?.code]
    } catch {
      return ['still waiting']
    }
  }

  it('answers 202 with the broker, 503 UNAVAILABLE without it, and 202 once it is back', async () => {
    expect(await vote()).to.deep.equal([202, undefined])
    proxy.blackhole()
    expect(await vote()).to.deep.equal([503, 'UNAVAILABLE'])
    proxy.restore()
    expect(await vote()).to.deep.equal([202, undefined])
  })
})
