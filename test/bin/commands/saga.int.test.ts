import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'
import { run } from '../run.js'

describe('stoa saga --amqp against RabbitMQ', function () {
  this.timeout(30_000)
  const prefix = `saga_cli_${randomBytes(4).toString('hex')}`
  let stoa: Stoa | undefined

  before(async () => {
    stoa = createStoa({ name: 'checkout', logger: quietLogger() })
      .use(sagas, { engine: createMemoryEngine() })
      .add('role:shop,cmd:do', () => ({ ok: true }))
      .listen(createAmqpTransport({ url: AMQP_URL, prefix }))
    stoa.saga('role:order,cmd:place', {
      id: (msg) => String(msg.id),
      version: 1,
      async run(_msg, saga) {
        await saga.act('reserve', { role: 'shop', cmd: 'do' })
        return { parcel: await saga.waitFor('shipped', { timeout: '1m' }) }
      },
    })
    await stoa.ready()
  })
  after(async () => {
    await stoa?.close()
    await deleteTopology(prefix, ['checkout', 'cli'])
  })

  it("shows and signals a saga through the service's RPC queue: --amqp <url> --service <name>", async () => {
    await stoa!.act({ role: 'order', cmd: 'place', id: '42' })
    const amqp = ['--amqp', `${AMQP_URL}?prefix=${prefix}`, '--service', 'checkout']
    const status = await run(['saga', 'status', '42', ...amqp])
    expect(status.code, status.stderr).to.equal(0)
    expect(JSON.parse(status.stdout)).to.include({ id: '42', state: 'waiting' })
    const signal = await run(['saga', 'signal', '42', 'shipped', 'parcel=7', ...amqp])
    expect(signal.code, signal.stderr).to.equal(0)
    expect((await stoa!.handleOf(sagas).settled('42'))?.result).to.deep.equal({ parcel: { parcel: 7 } })
    const list = await run(['saga', 'list', 'state=completed', ...amqp])
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).to.deep.equal(['42'])
  })

  it('refuses --amqp without a service to ask, with exit 2', async () => {
    const missing = await run(['saga', 'status', '42', '--amqp', `${AMQP_URL}?prefix=${prefix}`])
    expect(missing.code).to.equal(2)
    expect(missing.stderr).to.match(/--service/)
  })
})
