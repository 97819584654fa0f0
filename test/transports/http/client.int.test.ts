import { createServer } from 'node:http'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

describe('http transport client', function () {
  this.timeout(30000)
  const started: Stoa<any>[] = []
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
  })

  async function pair(maxSockets?: number) {
    const server = createStoa({ name: 'math', logger: quietLogger() })
    server.add('role:math,cmd:sum', async (m) => {
      await new Promise((r) => setImmediate(r))
      return { answer: Number(m.left) + Number(m.right) }
    })
    const listener = createHttpTransport()
    server.listen(listener)
    started.push(server)
    await server.ready()
    const client = createStoa({ name: 'gateway', logger: quietLogger() })
    client.client(
      createHttpTransport({ url: listener.address()!, ...(maxSockets === undefined ? {} : { maxSockets }) }),
      ['role:math'],
    )
    started.push(client)
    await client.ready()
    return client
  }

  it('completes 2,000 concurrent acts from one client without a timeout', async () => {
    const client = await pair()
    const n = 2000
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => client.act('role:math,cmd:sum', { left: i, right: 1 }, { timeoutMs: 20000 })),
    )
    const failed = results.filter((r) => r.status === 'rejected')
    expect(failed.length, String((failed[0] as PromiseRejectedResult | undefined)?.reason)).to.equal(0)
    for (const [i, r] of results.entries())
      expect((r as PromiseFulfilledResult<{ answer: number }>).value.answer).to.equal(i + 1)
  })

  it('acts again after the listener closed the idle connection, and across many idle periods', async () => {
    const server = createStoa({ name: 'math', logger: quietLogger() })
    server.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
    const listener = createHttpTransport({ keepAliveMs: 1000 })
    server.listen(listener)
    started.push(server)
    await server.ready()
    const client = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createHttpTransport({ url: listener.address()! }),
      ['role:math'],
    )
    started.push(client)
    for (const pause of [0, 1100, 950, 1000, 1050]) {
      await new Promise((r) => setTimeout(r, pause))
      expect(await client.act('role:math,cmd:sum', { left: pause, right: 1 })).to.deep.equal({ answer: pause + 1 })
    }
  })

  it('answers UNAVAILABLE when nothing listens at the url', async () => {
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const port = (probe.address() as { port: number }).port
    await new Promise<void>((r) => probe.close(() => r()))
    const client = createStoa({ logger: quietLogger() }).client(
      createHttpTransport({ url: `http://127.0.0.1:${port}` }),
      ['role:math'],
    )
    started.push(client)
    const err = (await client.act('role:math,cmd:sum').catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
  })

  it('times out on a listener that never answers, and lets go of the connection', async () => {
    let closed = 0
    const stuck = createServer((req) => req.on('close', () => closed++))
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r))
    try {
      const port = (stuck.address() as { port: number }).port
      const client = createStoa({ logger: quietLogger() }).client(
        createHttpTransport({ url: `http://127.0.0.1:${port}` }),
        ['role:math'],
      )
      started.push(client)
      const err = (await client.act('role:math,cmd:sum', {}, { timeoutMs: 100 }).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('TIMEOUT')
      await waitFor(() => closed === 1, 'the client to drop the connection', 2000)
    } finally {
      stuck.closeAllConnections()
      await new Promise<void>((r) => stuck.close(() => r()))
    }
  })

  it('turns an answer that is not stoa JSON into a known code', async () => {
    const proxy = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html>bad gateway</html>')
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    try {
      const port = (proxy.address() as { port: number }).port
      const client = createStoa({ logger: quietLogger() }).client(
        createHttpTransport({ url: `http://127.0.0.1:${port}/` }),
        ['role:math'],
      )
      started.push(client)
      const err = (await client.act('role:math,cmd:sum').catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('UNAVAILABLE')
    } finally {
      proxy.closeAllConnections()
      await new Promise<void>((r) => proxy.close(() => r()))
    }
  })
})
