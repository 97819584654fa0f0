import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { quietLogger } from '../../helpers/wait.js'
import { run } from '../run.js'

describe('stoa saga and stoa step', function () {
  this.timeout(20_000)
  let stoa: Stoa
  let url: string

  before(async () => {
    const http = createHttpTransport({ host: '127.0.0.1', port: 0 })
    stoa = createStoa({ name: 'orders', logger: quietLogger() })
      .use(sagas, { engine: createMemoryEngine() })
      .add('role:shop,cmd:do', () => ({ ok: true }))
      .listen(http)
    stoa.saga('role:order,cmd:place', {
      id: (msg) => String(msg.id),
      version: 1,
      async run(_msg, saga) {
        await saga.act('reserve', { role: 'shop', cmd: 'do' })
        return { parcel: await saga.waitFor('shipped', { timeout: '1m' }) }
      },
    })
    await stoa.ready()
    url = http.address()!
  })
  after(() => stoa?.close())

  it('shows, lists and signals a saga of a running service; ids stay text', async () => {
    await stoa.act({ role: 'order', cmd: 'place', id: '42' })
    const status = await run(['saga', 'status', '42', '--url', url])
    expect(status.code, status.stderr).to.equal(0)
    const st = JSON.parse(status.stdout)
    expect(st).to.include({ id: '42', state: 'waiting' })
    expect(st.steps.map((s: { step: string; state: string }) => `${s.step}:${s.state}`)).to.deep.equal([
      'reserve:done',
      'shipped:waiting',
    ])
    const list = await run(['saga', 'list', 'state=waiting', '--url', url])
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).to.deep.equal(['42'])
    const signal = await run(['saga', 'signal', '42', 'shipped', 'parcel=7', '--url', url])
    expect(signal.code, signal.stderr).to.equal(0)
    const ended = await stoa.handleOf(sagas).settled('42')
    expect(ended?.result).to.deep.equal({ parcel: { parcel: 7 } })
  })

  it('answers NOT_FOUND with exit 1, and a wrong command line with 2', async () => {
    const missing = await run(['saga', 'status', 'nobody', '--url', url])
    expect(missing.code).to.equal(1)
    expect(missing.stderr).to.match(/^NOT_FOUND: /)
    expect((await run(['saga', 'status', '42'])).code).to.equal(2)
    expect((await run(['saga', 'pause', '42', '--url', url])).code).to.equal(2)
    // One place to ask, of the right kind.
    const both = await run(['saga', 'status', '42', '--url', url, '--amqp', 'amqp://127.0.0.1', '--service', 'x'])
    expect(both.code).to.equal(2)
    expect(both.stderr).to.match(/one of --url, --amqp and --nats/)
    const http = await run(['saga', 'status', '42', '--amqp', url, '--service', 'orders'])
    expect(http.code).to.equal(2)
    expect(http.stderr).to.match(/--amqp takes an amqp:\/\//)
  })

  it('cancels a waiting saga: its steps are undone', async () => {
    await stoa.act({ role: 'order', cmd: 'place', id: '43' })
    const cancel = await run(['saga', 'cancel', '43', 'changed', 'my', 'mind', '--url', url])
    expect(cancel.code, cancel.stderr).to.equal(0)
    const ended = await stoa.handleOf(sagas).settled('43')
    expect(ended).to.include({ state: 'compensated' })
    expect(ended?.error).to.include({ code: 'SAGA_ABORTED', message: 'cancelled: changed my mind' })
  })

  it('step runs one action, prints its result and exits 0; a failure exits with its code', async () => {
    const ok = await run(['step', 'test/fixtures/saga/step-service.ts', 'role:job,cmd:run', 'n=3'])
    expect(ok.code, ok.stderr).to.equal(0)
    expect(JSON.parse(ok.stdout)).to.deep.equal({ ran: 3 })
    const failed = await run(['step', 'test/fixtures/saga/step-service.ts', 'role:job,cmd:fail'])
    expect(failed.code).to.equal(1)
    expect(failed.stderr).to.match(/^INVALID_MESSAGE: nothing to export/)
  })
})
