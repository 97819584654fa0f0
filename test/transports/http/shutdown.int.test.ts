import { Agent } from 'node:http'
import { expect } from 'chai'
import { createStoa } from '../../../actions/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

const JSON_HEADERS = { 'content-type': 'application/json' }

describe('http transport: graceful close', function () {
  this.timeout(10000)

  it('stops accepting at once, answers the requests in flight with Connection: close, then closes', async () => {
    let release!: () => void
    let started = 0
    const transport = createHttpTransport()
    const stoa = createStoa({ name: 'slow', logger: quietLogger(), graceMs: 5000 })
      .add('role:slow', async () => {
        started++
        await new Promise<void>((r) => (release = r))
        return { done: true }
      })
      .listen(transport)
    await stoa.ready()
    const url = transport.address()!
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      // A kept-alive connection, then a request that holds it while the instance closes.
      expect((await rawRequest(url, 'GET', '/readyz', { agent })).status).to.equal(200)
      const inflight = rawRequest(url, 'POST', '/act', { body: '{"role":"slow"}', headers: JSON_HEADERS, agent })
      await waitFor(() => started === 1, 'the slow action to start')
      const closing = stoa.close()
      // Not ready from the moment close begins.
      expect((await stoa.readiness()).ready).to.equal(false)
      // The listening socket is closed: a new connection is refused, so a load balancer or a
      // client retrying elsewhere never reaches a closing instance.
      await waitFor(() => true, 'a turn')
      const refused = await rawRequest(url, 'GET', '/healthz').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => err.code,
      )
      expect(refused).to.equal('ECONNREFUSED')
      release()
      const res = await inflight
      expect(res.status).to.equal(200)
      expect(res.json).to.deep.equal({ done: true })
      expect(res.headers.connection).to.equal('close')
      await closing
    } finally {
      agent.destroy()
    }
  })
})
