import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createLogger, createStoa, StoaError } from '../../../actions/index.js'
import { createNatsTransport, openNatsDeadLetters } from '../../../transports/nats/index.js'
import { names } from '../../../transports/nats/topology.js'
import { run } from '../../bin/run.js'
import { deleteStreams, NATS_URL, rawConnection } from '../../fixtures/nats-server.js'
import { waitFor } from '../../helpers/wait.js'

const TASK = 'worker.item.process'
const EVENT = 'item.seen'

/** How many messages the stream holds now. */
async function depth(stream: string): Promise<number> {
  const nc = await rawConnection()
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages
  } finally {
    await nc.close()
  }
}

async function untilDepth(stream: string, count: number): Promise<void> {
  let now = -1
  for (let i = 0; i < 400; i++) {
    now = await depth(stream)
    if (now === count) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${stream} never held ${count} messages (it holds ${now})`)
}

describe('transports/nats: dead letters an operator handles (stoa dlq --nats)', function () {
  this.timeout(60_000)
  const prefix = `d27_dlq_${randomBytes(4).toString('hex')}`
  const n = names(prefix)
  const stream = n.dlqStream('worker')
  const processed: number[] = []
  const attemptsSeen = new Map<number, number>()
  let healed = false
  let worker: Stoa
  let sender: Stoa
  const nats = `${NATS_URL}?prefix=${prefix}`

  before(async () => {
    // Attempts 1: every failure dead-letters at once. INVALID_MESSAGE and UNAVAILABLE give two
    // codes to filter on; the event gives a letter that is not redriven.
    worker = createStoa({ name: 'worker', logger: createLogger('silent') })
      .add(`task:${TASK}`, (m) => {
        attemptsSeen.set(Number(m.n), (attemptsSeen.get(Number(m.n)) ?? 0) + 1)
        if (!healed) throw new StoaError(m.fail === 'bad' ? 'INVALID_MESSAGE' : 'UNAVAILABLE', `item ${m.n} failed`)
        processed.push(Number(m.n))
      })
      .on(EVENT, () => {
        throw new StoaError('UNAVAILABLE', 'the event failed')
      })
      .listen(createNatsTransport({ url: NATS_URL, prefix, attempts: 1 }))
    await worker.ready()
    sender = createStoa({ name: 'sender', logger: createLogger('silent') }).client(
      createNatsTransport({ url: NATS_URL, prefix }),
    )
    await sender.ready()
    for (let i = 0; i < 6; i++) await sender.send(TASK, { n: i, fail: i % 2 === 0 ? 'bad' : 'down' })
    await sender.emit(EVENT, { n: 99 })
    await untilDepth(stream, 7)
  })
  after(async () => {
    await sender?.close()
    await worker?.close()
    await deleteStreams(prefix)
  })

  it('list shows code, message, attempts, trace id, subject and age of each, and leaves them all in place', async () => {
    const letters = await openNatsDeadLetters({ url: NATS_URL, prefix, service: 'worker' })
    try {
      expect(letters.queue).to.equal(stream)
      const all = await letters.list()
      expect(all.total).to.equal(7)
      const tasks = all.letters.filter((l) => l.subject === n.taskSubject(TASK))
      expect(tasks).to.have.length(6)
      expect(tasks[0]).to.include({ code: 'INVALID_MESSAGE', message: 'item 0 failed', attempts: 1 })
      expect(tasks[0]!.trace).to.be.a('string').and.not.equal('')
      expect(tasks[0]!.id).to.not.match(/^seq-/)
      expect(tasks[0]!.ageMs).to.be.a('number').at.least(0)
      const down = await letters.list({ code: 'UNAVAILABLE', count: 2 })
      expect(down.letters.map((l) => l.message)).to.deep.equal(['item 1 failed', 'item 3 failed'])
      expect((await letters.list({ olderThanMs: 86_400_000 })).letters).to.deep.equal([])
      const shown = await letters.show(tasks[1]!.id)
      expect(shown.body).to.deep.equal({ n: 1, fail: 'down' })
      expect(shown.headers['stoa-error-code']).to.deep.equal(['UNAVAILABLE'])
      try {
        await letters.show('no-such-letter')
        expect.fail('show of a missing id')
      } catch (err) {
        expect((err as StoaError).code).to.equal('NOT_FOUND')
      }
    } finally {
      await letters.close()
    }
    expect(await depth(stream)).to.equal(7)
  })

  it('stoa dlq list and show print the same, over --nats', async () => {
    const list = await run(['dlq', 'list', '--nats', nats, '--service', 'worker', '--code', 'INVALID_MESSAGE'])
    expect(list.code, list.stderr).to.equal(0)
    const out = JSON.parse(list.stdout) as { queue: string; total: number; letters: { id: string; message: string }[] }
    expect(out.queue).to.equal(stream)
    expect(out.total).to.equal(7)
    expect(out.letters.map((l) => l.message)).to.deep.equal(['item 0 failed', 'item 2 failed', 'item 4 failed'])
    const show = await run(['dlq', 'show', out.letters[0]!.id, '--nats', nats, '--service', 'worker'])
    expect(show.code, show.stderr).to.equal(0)
    expect(JSON.parse(show.stdout).body).to.deep.equal({ n: 0, fail: 'bad' })
  })

  it('redrive publishes the selected tasks back with their tries reset, one audit line each; the event stays', async () => {
    healed = true
    const r = await run(['dlq', 'redrive', '--nats', nats, '--service', 'worker', '--code', 'UNAVAILABLE'])
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.deep.equal({ queue: stream, redriven: 3, skipped: 1 })
    const audit = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { op: string; subject: string; code: string })
    expect(audit).to.have.length(3)
    for (const line of audit)
      expect(line).to.include({ op: 'redrive', subject: n.taskSubject(TASK), code: 'UNAVAILABLE' })
    await waitFor(() => processed.length === 3, 'the redriven tasks to run', 20_000)
    expect([...processed].sort()).to.deep.equal([1, 3, 5])
    // Tried once before, once after: the redrive is a new message, not a fifth delivery.
    for (const i of [1, 3, 5]) expect(attemptsSeen.get(i)).to.equal(2)
    expect(await depth(stream)).to.equal(4)
    const left = await openNatsDeadLetters({ url: NATS_URL, prefix, service: 'worker' })
    try {
      const { letters } = await left.list()
      expect(letters.map((l) => l.code).sort()).to.deep.equal([
        'INVALID_MESSAGE',
        'INVALID_MESSAGE',
        'INVALID_MESSAGE',
        'UNAVAILABLE',
      ])
      expect(letters.find((l) => l.code === 'UNAVAILABLE')!.subject).to.equal(n.eventSubject(EVENT))
    } finally {
      await left.close()
    }
  })

  it('purge asks first and removes nothing without "yes"; with --yes it removes the selected ones', async () => {
    const refused = await run(['dlq', 'purge', '--nats', nats, '--service', 'worker', '--code', 'INVALID_MESSAGE'], {
      stdin: 'no\n',
    })
    expect(refused.code).to.equal(1)
    expect(refused.stderr).to.match(/purge 3 dead letter\(s\)/)
    expect(await depth(stream)).to.equal(4)
    const r = await run(['dlq', 'purge', '--nats', nats, '--service', 'worker', '--code', 'INVALID_MESSAGE', '--yes'])
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.deep.equal({ queue: stream, purged: 3 })
    expect(await depth(stream)).to.equal(1)
  })

  it('a service with no dead-letter stream is NOT_FOUND', async () => {
    const r = await run(['dlq', 'list', '--nats', nats, '--service', 'nobody'])
    expect(r.code).to.not.equal(0)
    expect(r.stderr).to.match(/NOT_FOUND/)
  })
})
