import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { deleteStreams, NATS_URL, uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

describe('nats listener while the instance holds its intake', function () {
  this.timeout(30000)
  let prefix: string
  let started: Stoa<any>[]

  beforeEach(() => {
    prefix = uniquePrefix('hold')
    started = []
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await deleteStreams(prefix)
  })

  /** A worker allowed one try per task: any counted failure dead-letters at once. */
  async function pair(handler: (msg: Record<string, unknown>, worker: Stoa<any>) => void) {
    const worker: Stoa<any> = createStoa({ name: 'tally', logger: quietLogger(), graceMs: 2000 })
    worker
      .add('task:tally.vote.record', (msg: Record<string, unknown>) => handler(msg, worker))
      .listen(createNatsTransport({ url: NATS_URL, prefix, attempts: 1 }))
    const sender = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createNatsTransport({ url: NATS_URL, prefix }),
    )
    started.push(worker, sender)
    await worker.ready()
    await sender.ready()
    return { worker, sender }
  }

  it('takes no task while held, and takes them all once the hold is lifted', async () => {
    const ran: number[] = []
    const { worker, sender } = await pair((msg) => void ran.push(msg.n as number))
    worker.pauseIntake('postgres', 'down')
    await settle(50)
    await sender.send('tally.vote.record', { n: 1 })
    await sender.send('tally.vote.record', { n: 2 })
    await settle(300)
    expect(ran).to.deep.equal([])
    expect((await worker.readiness()).ready).to.equal(false)
    worker.resumeIntake('postgres')
    await waitFor(() => ran.length === 2, 'both tasks run after the resume')
    expect([...ran].sort()).to.deep.equal([1, 2])
  })

  it('gives back a task that failed because of the outage, not counted as its one try', async () => {
    let tries = 0
    const { worker, sender } = await pair((_msg, w) => {
      tries++
      if (tries === 1) {
        // The failure comes with the outage: the hold is put while this task runs.
        w.pauseIntake('postgres', 'down')
        throw new StoaError('UNAVAILABLE', 'the database is down')
      }
    })
    await sender.send('tally.vote.record', {})
    await waitFor(() => tries === 1, 'the first try')
    await settle(1500)
    expect(tries, 'no delivery while held').to.equal(1)
    worker.resumeIntake('postgres')
    // Counted, it would have been dead-lettered: one try allowed.
    await waitFor(() => tries === 2, 'the task run again after the resume', 10_000)
  })
})
