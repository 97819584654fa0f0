import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createLogger, createStoa, StoaError } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { AMQP_URL, deleteTopology, rawChannel } from '../../fixtures/amqp-broker.js'
import { root } from '../run.js'

const TASK = 'worker.item.process'
const COUNT = 400

/** Takes every message off `queue` and returns the `n` of each body. */
async function drain(queue: string): Promise<number[]> {
  const raw = await rawChannel()
  const out: number[] = []
  try {
    for (;;) {
      const m = await raw.ch.get(queue, { noAck: true })
      if (m === false) return out
      out.push((JSON.parse(m.content.toString()) as { n: number }).n)
    }
  } finally {
    await raw.close()
  }
}

async function depth(queue: string): Promise<number> {
  const raw = await rawChannel()
  try {
    return (await raw.ch.checkQueue(queue)).messageCount
  } finally {
    await raw.close()
  }
}

describe('stoa dlq redrive, killed half-way (SIGKILL)', function () {
  this.timeout(120_000)
  const prefix = `ops_dlqkill_${randomBytes(4).toString('hex')}`
  const n = names(prefix)
  let worker: Stoa | undefined

  after(() => deleteTopology(prefix, ['worker', 'sender'], { attempts: 1, backoffMs: 1000, maxBackoffMs: 60_000 }))

  it('loses no letter: each is still dead-lettered or back in its queue (at most one in both)', async () => {
    worker = createStoa({ name: 'worker', logger: createLogger('silent') })
      .add(`task:${TASK}`, () => {
        throw new StoaError('INVALID_MESSAGE', 'refused')
      })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, attempts: 1 }))
    await worker.ready()
    const sender = createStoa({ name: 'sender', logger: createLogger('silent') }).client(
      createAmqpTransport({ url: AMQP_URL, prefix }),
    )
    await sender.ready()
    for (let i = 0; i < COUNT; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => sender.send(TASK, { n: i + j })))
    await sender.close()
    for (let i = 0; i < 1200 && (await depth(n.dlq('worker'))) < COUNT; i++) await new Promise((r) => setTimeout(r, 50))
    // No consumer from now on: what the redrive sends back stays in the task queue to be counted.
    await worker.close()
    expect(await depth(n.dlq('worker'))).to.equal(COUNT)

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/stoa.ts',
        'dlq',
        'redrive',
        '--amqp',
        `${AMQP_URL}?prefix=${prefix}`,
        '--service',
        'worker',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let audited = 0
    let killing = false
    let err = ''
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      audited = (err.match(/"op":"redrive"/g) ?? []).length
      // At a point of the redrive no line marks: between two letters or inside one.
      if (audited >= 20 && !killing) {
        killing = true
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 60))
      }
    })
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, sig) => resolve(sig)),
    )
    expect(signal, err).to.equal('SIGKILL')
    expect(audited).to.be.below(COUNT)

    const back = await drain(n.tasks('worker'))
    const dead = await drain(n.dlq('worker'))
    // Every letter the audit reported is in its queue: it was confirmed before it was removed.
    expect(back.length).to.be.at.least(audited)
    const everywhere = new Set([...back, ...dead])
    expect(everywhere.size).to.equal(COUNT)
    for (let i = 0; i < COUNT; i++) expect(everywhere.has(i), `letter ${i}`).to.equal(true)
    // Only the letter in flight when the kill came may be in both places.
    const both = back.filter((x) => dead.includes(x))
    expect(both.length).to.be.at.most(1)
  })
})
