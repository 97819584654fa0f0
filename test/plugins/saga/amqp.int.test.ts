import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { SagaEngine } from '../../../plugins/saga/index.js'
import sagas, { createDbosEngine } from '../../../plugins/saga/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

describe('a saga triggered by a RabbitMQ task (DBOS over PostgreSQL)', function () {
  this.timeout(60_000)
  const prefix = `saga2_trigger_${randomBytes(4).toString('hex')}`
  const retry = { attempts: 3, backoffMs: 50, maxBackoffMs: 50 }
  let db: TestDatabase | undefined
  let trips: Stoa<any> | undefined
  let gateway: Stoa<any> | undefined
  const starts: string[] = []
  const calls: string[] = []

  before(async () => {
    db = await createTestDatabase('saga2_trigger')
    const dbos = createDbosEngine({ url: db.url, executorId: 'trigger-test' })
    // The real engine, whose first start fails as a database that is away for a moment would:
    // the task that asked for it must not be acknowledged, so it comes again.
    const start: SagaEngine['start'] = async (workflow, id, input) => {
      starts.push(id)
      if (starts.length === 1) throw new StoaError('UNAVAILABLE', 'the saga store is away')
      return dbos.start(workflow, id, input)
    }
    const engine = new Proxy(dbos, {
      get: (target, key) => {
        if (key === 'start') return start
        const v = Reflect.get(target, key)
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    trips = createStoa({ name: 'trips', logger: quietLogger() })
      .use(sagas, { engine, retry: { attempts: 1, backoffMs: 5 } })
      .add('role:trip,cmd:do', (msg, ctx) => {
        calls.push(ctx.id)
        return { done: msg.step }
      })
    trips.saga('task:trips.trip.book', {
      id: (msg) => `trip:${String(msg.trip)}`,
      version: 1,
      run: async (msg, saga) => saga.act('reserve', { role: 'trip', cmd: 'do', step: 'reserve', trip: msg.trip }),
    })
    trips.listen(createAmqpTransport({ url: AMQP_URL, prefix, ...retry }))
    gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, ...retry }),
    )
    await Promise.all([trips.ready(), gateway.ready()])
  })
  after(async () => {
    await gateway?.close()
    await trips?.close()
    await deleteTopology(prefix, ['trips', 'gateway'], retry)
    await db?.drop()
  })

  it('acknowledges the task only after the durable start, and a redelivered trigger starts nothing new', async () => {
    const handle = trips!.handleOf(sagas)
    await gateway!.send('trips.trip.book', { trip: 7 })
    // The first delivery's start failed: the task came again and the second start recorded the saga.
    await waitFor(() => starts.length >= 2, 'the redelivered trigger')
    const st = await handle.settled('trip:7')
    expect(st?.state).to.equal('completed')
    expect(calls).to.deep.equal(['trip:7/reserve'])

    // The same trigger again (as a redelivery after a lost ack would bring it): no second run.
    await gateway!.send('trips.trip.book', { trip: 7 })
    await waitFor(() => starts.length === 3, 'the repeated trigger')
    expect((await handle.settled('trip:7'))?.state).to.equal('completed')
    expect(calls).to.deep.equal(['trip:7/reserve'])
    const listed = (await trips!.act('role:saga,cmd:list', {})) as { id: string }[]
    expect(listed.filter((s) => s.id === 'trip:7')).to.have.length(1)
  })
})
