import { expect } from 'chai'
import Seneca from 'seneca'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, rawChannel, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'

type SenecaInstance = {
  add(pin: string, fn: (msg: any, reply: (err: unknown, out?: unknown) => void) => void): SenecaInstance
  listen(o: object): SenecaInstance
  client(o: object): SenecaInstance
  ready(cb: (err?: unknown) => void): void
  act(pattern: string, msg: object, cb: (err: any, out: any) => void): void
  close(cb: () => void): void
}

/** Runs the real seneca + seneca-amqp-transport against stoa's seneca mode, both ways. */
describe('amqp seneca-amqp-transport compatibility', function () {
  this.timeout(30000)
  let prefix: string
  const started: Stoa<any>[] = []
  const senecas: SenecaInstance[] = []

  beforeEach(() => {
    prefix = uniquePrefix('seneca')
  })
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
    for (const s of senecas.splice(0)) await new Promise<void>((r) => s.close(r))
    const raw = await rawChannel()
    for (const q of ['add.role:math.cmd:any', 'dlq']) await raw.ch.deleteQueue(`${prefix}.${q}`)
    for (const x of ['topic', 'dlx']) await raw.ch.deleteExchange(`${prefix}.${x}`)
    await raw.close()
  })

  /** A Seneca instance using seneca-amqp-transport with this run's exchange and queue names. */
  function seneca(): SenecaInstance {
    const dlx = `${prefix}.dlx`
    // `undead`: a failing action served through seneca-transport's listener is fatal to a
    // Seneca process on its defaults (the root instance acts with `fatal` set), which would
    // end the test run; it says nothing about the wire format.
    const s = (Seneca as unknown as (o: object) => any)({ log: 'silent', legacy: false, debug: { undead: true } })
      .use('seneca-transport')
      .use('seneca-amqp-transport', {
        amqp: {
          exchange: { name: `${prefix}.topic` },
          deadLetter: { queue: { name: `${prefix}.dlq` }, exchange: { name: dlx } },
          listener: {
            queues: {
              prefix: `${prefix}.add`,
              options: { durable: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-message-ttl': 60000 } },
            },
          },
          client: {
            queues: {
              prefix: `${prefix}.act`,
              options: {
                autoDelete: true,
                exclusive: true,
                arguments: { 'x-dead-letter-exchange': dlx, 'x-message-ttl': 10000 },
              },
            },
          },
        },
      }) as SenecaInstance
    senecas.push(s)
    return s
  }
  const ready = (s: SenecaInstance) =>
    new Promise<void>((resolve, reject) => s.ready((err) => (err ? reject(err) : resolve())))
  const act = (s: SenecaInstance, pattern: string, msg: object) =>
    new Promise<{ err: any; out: any }>((resolve) => s.act(pattern, msg, (err, out) => resolve({ err, out })))
  const transport = (o: object = {}) => createAmqpTransport({ url: AMQP_URL, seneca: true, prefix, ...o })

  it('serves a Seneca client: results, and stoa error codes with their details', async () => {
    const server = createStoa({ name: 'math', logger: quietLogger() })
      .add('role:math,cmd:sum', (m, ctx) => ({
        answer: Number(m.left) + Number(m.right),
        caller: ctx.caller,
        hasDeadline: ctx.deadline > Date.now(),
      }))
      .add('role:math,cmd:fail', () => {
        throw new StoaError('FORBIDDEN', 'not for you', { need: 'admin' })
      })
      .add('role:math,cmd:big', () => ({ n: 1n }))
      .listen(transport(), ['role:math,cmd:*'])
    started.push(server)
    await server.ready()
    const client = seneca().client({ type: 'amqp', pin: 'role:math,cmd:*', url: AMQP_URL })
    await ready(client)
    const ok = await act(client, 'role:math,cmd:sum', { left: 2, right: 3 })
    expect(ok.err).to.equal(null)
    expect(ok.out).to.deep.include({ answer: 5, caller: 'seneca', hasDeadline: true })
    const bad = await act(client, 'role:math,cmd:fail', {})
    expect(bad.err).to.be.instanceOf(Error)
    expect(bad.err.code).to.equal('FORBIDDEN')
    expect(bad.err.message).to.include('not for you')
    expect(bad.err.details).to.deep.equal({ need: 'admin' })
    // A result JSON cannot hold is answered as the action's failure, not left unacknowledged.
    const big = await act(client, 'role:math,cmd:big', {})
    expect(big.err?.code).to.equal('ACTION_FAILED')
    expect((await act(client, 'role:math,cmd:sum', { left: 1, right: 1 })).out).to.deep.include({ answer: 2 })
  })

  it('calls a Seneca listener: results, and Seneca failures as ACTION_FAILED without their text', async () => {
    const listener = seneca()
      .add('role:math,cmd:sum', (m, reply) => reply(null, { answer: m.left + m.right }))
      .add('role:math,cmd:fail', (_m, reply) => reply(new Error('db password is hunter2')))
      .listen({ type: 'amqp', pin: 'role:math,cmd:*', url: AMQP_URL })
    await ready(listener)
    const client = createStoa({ name: 'gateway', logger: quietLogger() }).client(transport(), ['role:math,cmd:*'])
    started.push(client)
    await client.ready()
    expect(await client.act('role:math,cmd:sum', { left: 4, right: 5 })).to.deep.equal({ answer: 9 })
    const err = (await client.act('role:math,cmd:fail', {}).catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('ACTION_FAILED')
    expect(err.message).not.to.include('hunter2')
  })

  it('refuses tasks with NOT_FOUND and lets events go nowhere in the seneca mode', async () => {
    const client = createStoa({ name: 'gateway', logger: quietLogger() }).client(transport(), ['role:math,cmd:*'])
    started.push(client)
    await client.ready()
    const err = (await client.send('tally.vote.record', {}).catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('NOT_FOUND')
    await client.emit('vote.recorded', { voter: 'v' })
  })
})
