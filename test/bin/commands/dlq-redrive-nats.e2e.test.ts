import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createLogger, createStoa, StoaError } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { names } from '../../../transports/nats/topology.js'
import { deleteStreams, NATS_URL, rawConnection } from '../../fixtures/nats-server.js'
import { root } from '../run.js'

const TASK = 'worker.item.process'
const COUNT = 400

/** The `n` of every message a stream holds now, read by sequence (nothing is consumed). */
async function bodies(stream: string): Promise<number[]> {
  const nc = await rawConnection()
  try {
    const jsm = await jetstreamManager(nc)
    const { first_seq: first, last_seq: last, messages } = (await jsm.streams.info(stream)).state
    const out: number[] = []
    for (let seq = first; messages > 0 && seq <= last; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq })
      if (m !== null) out.push((m.json() as { n: number }).n)
    }
    return out
  } finally {
    await nc.close()
  }
}

describe('stoa dlq redrive --nats, killed half-way (SIGKILL)', function () {
  this.timeout(120_000)
  const prefix = `d27_dlqkill_${randomBytes(4).toString('hex')}`
  const n = names(prefix)
  let worker: Stoa | undefined

  after(() => deleteStreams(prefix))

  it('loses no letter: each is still dead-lettered or back in its stream (at most one in both)', async () => {
    worker = createStoa({ name: 'worker', logger: createLogger('silent') })
      .add(`task:${TASK}`, () => {
        throw new StoaError('INVALID_MESSAGE', 'refused')
      })
      .listen(createNatsTransport({ url: NATS_URL, prefix, attempts: 1 }))
    await worker.ready()
    const sender = createStoa({ name: 'sender', logger: createLogger('silent') }).client(
      createNatsTransport({ url: NATS_URL, prefix }),
    )
    await sender.ready()
    for (let i = 0; i < COUNT; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => sender.send(TASK, { n: i + j })))
    await sender.close()
    const dlq = n.dlqStream('worker')
    for (let i = 0; i < 1200 && (await bodies(dlq)).length < COUNT; i++) await new Promise((r) => setTimeout(r, 50))
    // No consumer from now on: what the redrive sends back stays in the task stream to be counted.
    await worker.close()
    expect(await bodies(dlq)).to.have.length(COUNT)

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bin/stoa.ts',
        'dlq',
        'redrive',
        '--nats',
        `${NATS_URL}?prefix=${prefix}`,
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

    const back = await bodies(n.taskStream('worker'))
    const dead = await bodies(dlq)
    // Every letter the audit reported is in its stream: it was acknowledged before it was removed.
    expect(back.length).to.be.at.least(audited)
    const everywhere = new Set([...back, ...dead])
    expect(everywhere.size).to.equal(COUNT)
    for (let i = 0; i < COUNT; i++) expect(everywhere.has(i), `letter ${i}`).to.equal(true)
    // Only the letter in flight when the kill came may be in both places.
    const both = back.filter((x) => dead.includes(x))
    expect(both.length).to.be.at.most(1)
  })
})
