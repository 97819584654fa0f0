import { expect } from 'chai'
import { z } from 'zod'
import type { Stoa } from '../../../actions/index.js'
import { action, batchAction, createStoa, StoaError } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import type { DeadLetter } from '../../fixtures/amqp-broker.js'
import {
  AMQP_URL,
  deleteTopology,
  drainQueue,
  queueExists,
  rawChannel,
  uniquePrefix,
} from '../../fixtures/amqp-broker.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const RETRY = { attempts: 3, backoffMs: 20, maxBackoffMs: 40 }

describe('amqp retries and dead letters', function () {
  this.timeout(20000)
  let prefix: string
  let started: Stoa<any>[]
  let raw: Awaited<ReturnType<typeof rawChannel>>

  beforeEach(async () => {
    prefix = uniquePrefix('retry')
    started = []
    raw = await rawChannel()
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await raw.close()
    await deleteTopology(prefix, ['tally', 'audit', 'gateway'], RETRY)
  })

  async function service(name: string, setup: (s: Stoa<any>) => void): Promise<Stoa<any>> {
    const s = createStoa({ name, logger: quietLogger() })
    setup(s)
    s.listen(createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }))
    started.push(s)
    return s.ready()
  }

  async function gateway(): Promise<Stoa<any>> {
    const s = createStoa({ name: 'gateway', logger: quietLogger() }).client(
      createAmqpTransport({ url: AMQP_URL, prefix, ...RETRY }),
    )
    started.push(s)
    return s.ready()
  }

  async function deadLetters(service: string, count: number): Promise<DeadLetter[]> {
    const got: DeadLetter[] = []
    const queue = names(prefix).dlq(service)
    const until = Date.now() + 10_000
    while (got.length < count) {
      if (Date.now() > until) throw new Error(`only ${got.length} of ${count} dead letters in ${queue}`)
      got.push(...(await drainQueue(raw.ch, queue)))
      if (got.length < count) await settle(20)
    }
    return got
  }

  it('retries a failing task with backoff, then dead-letters it with the code, message and attempt count', async () => {
    const tries: number[] = []
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        tries.push(Date.now())
        throw new StoaError('UNAVAILABLE', 'database down', { db: 'votes' })
      }),
    )
    const gw = await gateway()
    await gw.send('tally.vote.record', { voter: 'v1' }, { trace: 'trace-r1' })
    const [dead] = await deadLetters('tally', 1)
    expect(tries).to.have.length(3)
    expect(tries[2]! - tries[0]!).to.be.at.least(RETRY.backoffMs) // it did wait between tries
    expect(dead!.body).to.deep.equal({ voter: 'v1' })
    expect(dead!.headers).to.include({
      'x-stoa-error-code': 'UNAVAILABLE',
      'x-stoa-error-message': 'database down',
      'x-stoa-attempts': 3,
      'x-stoa-queue': names(prefix).tasks('tally'),
      'x-stoa-trace': 'trace-r1',
    })
    expect(dead!.type).to.equal('tally.vote.record')
    await settle()
    expect(tries).to.have.length(3)
  })

  it('retries the failing delivery of a batch alone, then dead-letters it with its attempt count, while the rest commit once', async () => {
    const committed: string[] = []
    const tried: string[][] = []
    await service('tally', (s) =>
      s.add(
        'task:tally.vote.record',
        batchAction({
          batch: { max: 4, waitMs: 1000 },
          handler: (items) => {
            const voters = items.map((i) => String(i.msg.voter))
            tried.push(voters)
            if (voters.includes('bad')) throw new StoaError('TIMEOUT', 'the ballot row stayed locked')
            committed.push(...voters)
          },
        }),
      ),
    )
    const gw = await gateway()
    await Promise.all(['a', 'b', 'bad', 'c'].map((voter) => gw.send('tally.vote.record', { voter })))
    const [dead] = await deadLetters('tally', 1)
    expect(dead!.body).to.deep.equal({ voter: 'bad' })
    expect(dead!.headers).to.include({ 'x-stoa-error-code': 'TIMEOUT', 'x-stoa-attempts': RETRY.attempts })
    await settle()
    expect([...committed].sort()).to.deep.equal(['a', 'b', 'c'])
    // The first try is the batch of four, bisected; each retry comes back with nothing else
    // queued and runs alone once its batch waited waitMs.
    expect(tried[0]).to.have.length(4)
    expect(tried.filter((b) => b.length === 1 && b[0] === 'bad')).to.have.length(RETRY.attempts)
  })

  it('completes a task that fails twice and then succeeds, without dead-lettering it', async () => {
    let tries = 0
    let done = 0
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        if (++tries < 3) throw new Error('flaky')
        done++
      }),
    )
    const gw = await gateway()
    await gw.send('tally.vote.record', { voter: 'v2' })
    await waitFor(() => done === 1, 'the third try to succeed')
    await settle()
    expect(tries).to.equal(3)
    expect(await drainQueue(raw.ch, names(prefix).dlq('tally'))).to.deep.equal([])
  })

  it('dead-letters a plain thrown error as ACTION_FAILED without its message', async () => {
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        throw new Error('password=hunter2')
      }),
    )
    const gw = await gateway()
    await gw.send('tally.vote.record', { voter: 'v3' })
    const [dead] = await deadLetters('tally', 1)
    expect(dead!.headers['x-stoa-error-code']).to.equal('ACTION_FAILED')
    expect(String(dead!.headers['x-stoa-error-message'])).not.to.include('hunter2')
  })

  it('sends poison straight to the dead-letter queue with the reason: bad JSON, no handler, invalid message', async () => {
    let ran = 0
    await service('tally', (s) =>
      s.add(
        'task:tally.vote.record',
        action({
          schema: z.object({ voter: z.string() }),
          handler: () => void ran++,
        }),
      ),
    )
    const gw = await gateway()
    await gw.send('tally.vote.record', { voter: 42 } as never)
    await gw.send('tally.vote.unknown', { voter: 'v' })
    raw.ch.sendToQueue(names(prefix).tasks('tally'), Buffer.from('{"voter":'), {
      contentType: 'application/json',
      type: 'tally.vote.record',
    })
    const dead = await deadLetters('tally', 3)
    const byCode = Object.fromEntries(dead.map((d) => [d.headers['x-stoa-error-code'], d]))
    expect(Object.keys(byCode).sort()).to.deep.equal(['INVALID_JSON', 'INVALID_MESSAGE', 'NOT_FOUND'])
    for (const d of dead) expect(d.headers['x-stoa-attempts']).to.equal(1)
    expect(byCode.INVALID_JSON!.body).to.equal('{"voter":')
    expect(byCode.NOT_FOUND!.body).to.deep.equal({ voter: 'v' })
    expect(ran).to.equal(0)
  })

  it('retries a failing event subscriber in its own service only, then dead-letters it there', async () => {
    let tallyTries = 0
    let auditSeen = 0
    await service('tally', (s) =>
      s.on('vote.recorded', () => {
        tallyTries++
        throw new StoaError('TIMEOUT', 'slow store')
      }),
    )
    await service('audit', (s) => s.on('vote.*', () => void auditSeen++))
    const gw = await gateway()
    await gw.emit('vote.recorded', { voter: 'v4' })
    const [dead] = await deadLetters('tally', 1)
    expect(dead!.headers).to.include({ 'x-stoa-error-code': 'TIMEOUT', 'x-stoa-attempts': 3 })
    expect(dead!.type).to.equal('vote.recorded')
    await settle()
    expect(tallyTries).to.equal(3)
    expect(auditSeen).to.equal(1)
    expect(await drainQueue(raw.ch, names(prefix).dlq('audit'))).to.deep.equal([])
  })

  it('keeps a failing task when its dead-letter queue was deleted, and dead-letters it once the queue is back', async () => {
    let tries = 0
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        tries++
        throw new StoaError('INVALID_MESSAGE', 'never valid')
      }),
    )
    await raw.ch.deleteQueue(names(prefix).dlq('tally'))
    const gw = await gateway()
    await gw.send('tally.vote.record', { voter: 'v5' })
    // The copy comes back unroutable; the transport declares its queues again and retries.
    let back = false
    for (let i = 0; i < 100 && !back; i++) {
      back = await queueExists(names(prefix).dlq('tally'))
      if (!back) await settle(50)
    }
    expect(back).to.equal(true)
    const [dead] = await deadLetters('tally', 1)
    expect(dead!.body).to.deep.equal({ voter: 'v5' })
    expect(tries).to.be.at.least(1)
  })
})
