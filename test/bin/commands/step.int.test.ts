import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel } from '../../fixtures/amqp-broker.js'
import { run } from '../run.js'

describe('stoa step --amqp against RabbitMQ', function () {
  this.timeout(30_000)
  const prefix = `saga2_step_${randomBytes(4).toString('hex')}`
  const broker = `${AMQP_URL}?prefix=${prefix}`
  let raw: Awaited<ReturnType<typeof rawChannel>>

  before(async () => {
    raw = await rawChannel()
    // The event's subscriber: a queue bound to the events exchange before the step runs.
    await raw.ch.assertExchange(names(prefix).events, 'topic', { durable: true })
    const q = await raw.ch.assertQueue(`${prefix}.watch`, { exclusive: true })
    await raw.ch.bindQueue(q.queue, names(prefix).events, 'export.finished')
  })
  after(async () => {
    await raw?.close()
    await deleteTopology(prefix, ['audit', 'exporter'])
  })

  it("runs the step once: its task and event are on the broker when it exits 0; a failure exits with the table's code", async () => {
    const ok = await run([
      'step',
      'test/fixtures/saga/step-broker.ts',
      'role:export,cmd:run',
      'day=2026-12-01',
      '--amqp',
      broker,
    ])
    expect(ok.code, ok.stderr).to.equal(0)
    expect(JSON.parse(ok.stdout)).to.deep.equal({ exported: '2026-12-01' })
    const task = await raw.ch.get(names(prefix).tasks('audit'), { noAck: true })
    expect(task && JSON.parse(task.content.toString())).to.deep.include({ day: '2026-12-01' })
    const event = await raw.ch.get(`${prefix}.watch`, { noAck: true })
    expect(event && JSON.parse(event.content.toString())).to.deep.include({ day: '2026-12-01' })

    const failed = await run(['step', 'test/fixtures/saga/step-service.ts', 'role:job,cmd:fail', '--amqp', broker])
    expect(failed.code).to.equal(1)
    expect(failed.stderr).to.match(/^INVALID_MESSAGE: nothing to export/m)
  })
})
