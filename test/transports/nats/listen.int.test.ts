import type { Server } from 'node:net'
import { createServer, Socket } from 'node:net'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { headers } from '@nats-io/transport-node'
import { expect } from 'chai'
import { z } from 'zod'
import type { Stoa } from '../../../actions/index.js'
import { action, createStoa, StoaError } from '../../../actions/index.js'
import { createNatsTransport } from '../../../transports/nats/index.js'
import { names } from '../../../transports/nats/topology.js'
import { deadLetterReason } from '../../../transports/nats/wire.js'
import { deleteStreams, NATS_URL, rawConnection, uniquePrefix } from '../../fixtures/nats-server.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const RETRY = { attempts: 3, backoffMs: 20, maxBackoffMs: 40 }

interface Letter {
  readonly body: unknown
  readonly subject: string
  readonly reason: ReturnType<typeof deadLetterReason>
}

describe('nats listener: retries, dead letters, redelivery', function () {
  this.timeout(30000)
  let prefix: string
  let started: Stoa<any>[]
  let raw: NatsConnection

  beforeEach(async () => {
    prefix = uniquePrefix('listen')
    started = []
    raw = await rawConnection()
  })
  afterEach(async () => {
    for (const s of started.reverse()) await s.close()
    await raw.close()
    await deleteStreams(prefix)
  })

  async function service(
    name: string,
    setup: (s: Stoa<any>) => void,
    extra: Parameters<typeof createNatsTransport>[0] = {},
  ): Promise<Stoa<any>> {
    const s = createStoa({ name, logger: quietLogger(), graceMs: 2000 })
    setup(s)
    s.listen(createNatsTransport({ url: NATS_URL, prefix, ...RETRY, ...extra }))
    started.push(s)
    await s.ready()
    return s
  }

  async function gateway(): Promise<Stoa<any>> {
    const g = createStoa({ name: 'gateway', logger: quietLogger() })
    g.client(createNatsTransport({ url: NATS_URL, prefix }))
    started.push(g)
    await g.ready()
    return g
  }

  /** Every message now in a service's dead-letter stream. */
  async function deadLetters(service: string): Promise<Letter[]> {
    const jsm = await jetstreamManager(raw)
    const stream = names(prefix).dlqStream(service)
    const info = await jsm.streams.info(stream)
    const out: Letter[] = []
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq })
      if (m === null) continue
      let body: unknown = m.string()
      try {
        body = m.json()
      } catch {
        // kept as text: poison bodies are what some tests look at
      }
      out.push({ body, subject: m.subject, reason: deadLetterReason(m.header) })
    }
    return out
  }

  it('resolves send only once the task is stored in its stream', async () => {
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v1' })
    const jsm = await jetstreamManager(raw)
    const info = await jsm.streams.info(names(prefix).taskStream('tally'))
    expect(info.state.messages).to.equal(1)
    expect(info.config.retention).to.equal('workqueue')
    expect(info.config.storage).to.equal('file')
  })

  it('makes a task stream again when it was deleted under a running sender', async () => {
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v1' })
    const jsm = await jetstreamManager(raw)
    await jsm.streams.delete(names(prefix).taskStream('tally'))
    await g.send('tally.vote.record', { voter: 'v2' })
    expect((await jsm.streams.info(names(prefix).taskStream('tally'))).state.messages).to.equal(1)
  })

  it('retries a failing task with backoff until it succeeds, then acknowledges it', async () => {
    let tries = 0
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        tries++
        if (tries < 3) throw new Error('database busy')
      }),
    )
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v1' })
    await waitFor(() => tries === 3, 'the third try')
    await settle(300)
    expect(tries).to.equal(3)
    const jsm = await jetstreamManager(raw)
    const info = await jsm.streams.info(names(prefix).taskStream('tally'))
    expect(info.state.messages).to.equal(0)
    expect(await deadLetters('tally')).to.deep.equal([])
  })

  it('tries a task as often as attempts says, then dead-letters it with code, message and attempt count', async () => {
    let tries = 0
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        tries++
        throw new StoaError('UNAVAILABLE', 'the ledger is down')
      }),
    )
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v7' })
    let letters: Letter[] = []
    for (const until = Date.now() + 10_000; letters.length === 0 && Date.now() < until; await settle(50))
      letters = await deadLetters('tally')
    expect(tries).to.equal(RETRY.attempts)
    expect(letters).to.have.length(1)
    expect(letters[0]!.body).to.deep.equal({ voter: 'v7' })
    expect(letters[0]!.subject).to.equal(names(prefix).dlqSubject('tally'))
    expect(letters[0]!.reason).to.deep.equal({
      code: 'UNAVAILABLE',
      message: 'the ledger is down',
      attempts: 3,
      subject: names(prefix).taskSubject('tally.vote.record'),
    })
    await settle(200)
    expect(tries).to.equal(RETRY.attempts)
  })

  it('dead-letters at once a task that can never run (an invalid message)', async () => {
    let tries = 0
    await service('tally', (s) =>
      s.add(
        'task:tally.vote.record',
        action({
          schema: z.object({ voter: z.string() }),
          handler: () => {
            tries++
          },
        }),
      ),
    )
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 42 })
    let letters: Letter[] = []
    for (const until = Date.now() + 5000; letters.length === 0 && Date.now() < until; await settle(50))
      letters = await deadLetters('tally')
    expect(letters.map((l) => [l.reason.code, l.reason.attempts])).to.deep.equal([['INVALID_MESSAGE', 1]])
    expect(tries).to.equal(0)
  })

  it('dead-letters a poison message (not JSON) at once, body kept', async () => {
    let tries = 0
    await service('tally', (s) =>
      s.add('task:tally.vote.record', () => {
        tries++
      }),
    )
    const js = jetstream(raw)
    await js.publish(names(prefix).taskSubject('tally.vote.record'), 'not json {', { headers: headers() })
    let letters: Letter[] = []
    for (const until = Date.now() + 5000; letters.length === 0 && Date.now() < until; await settle(50))
      letters = await deadLetters('tally')
    expect(letters).to.have.length(1)
    expect(letters[0]!.body).to.equal('not json {')
    expect(letters[0]!.reason.code).to.equal('INVALID_JSON')
    expect(letters[0]!.reason.attempts).to.equal(1)
    expect(tries).to.equal(0)
  })

  it('retries a failing event subscriber, then dead-letters the event for that service only', async () => {
    let audit = 0
    let tally = 0
    await service('audit', (s) =>
      s.on('vote.*', () => {
        audit++
        throw new Error('audit log full')
      }),
    )
    await service('tally', (s) => s.on('vote.recorded', () => void tally++))
    const g = await gateway()
    await g.emit('vote.recorded', { voter: 'v1' })
    let letters: Letter[] = []
    for (const until = Date.now() + 10_000; letters.length === 0 && Date.now() < until; await settle(50))
      letters = await deadLetters('audit')
    expect(audit).to.equal(RETRY.attempts)
    expect(tally).to.equal(1)
    expect(letters.map((l) => [l.reason.code, l.reason.attempts, l.reason.subject])).to.deep.equal([
      ['ACTION_FAILED', 3, names(prefix).eventSubject('vote.recorded')],
    ])
    expect(await deadLetters('tally')).to.deep.equal([])
  })

  it('finishes and acknowledges a task in hand before close resolves', async () => {
    let started = false
    let finished = false
    const tally = await service('tally', (s) =>
      s.add('task:tally.vote.record', async () => {
        started = true
        await new Promise((r) => setTimeout(r, 300))
        finished = true
      }),
    )
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v1' })
    await waitFor(() => started, 'the task to start')
    await tally.close()
    expect(finished).to.equal(true)
    const jsm = await jetstreamManager(raw)
    const info = await jsm.consumers.info(names(prefix).taskStream('tally'), names(prefix).taskConsumer)
    expect(info.num_ack_pending).to.equal(0)
    expect((await jsm.streams.info(names(prefix).taskStream('tally'))).state.messages).to.equal(0)
  })

  it('keeps a task that runs longer than ackWaitMs from being delivered again, also after an idle spell', async () => {
    const runs: string[] = []
    await service(
      'tally',
      (s) =>
        s.add('task:tally.vote.record', async (m) => {
          runs.push(String(m.voter))
          if (m.voter === 'slow') await settle(2600)
        }),
      { ackWaitMs: 1000 },
    )
    const g = await gateway()
    // A quick task first, then a pause: what tells JetStream of the work in hand has nothing to
    // do for a while, and must speak again for the slow one.
    await g.send('tally.vote.record', { voter: 'quick' })
    await waitFor(() => runs.length === 1, 'the quick task')
    await settle(800)
    await g.send('tally.vote.record', { voter: 'slow' })
    await waitFor(() => runs.length === 2, 'the slow task')
    await settle(3500)
    expect(runs).to.deep.equal(['quick', 'slow'])
  })

  it('gives a task held by an instance that lost its connection to another instance, and reports not ready meanwhile', async () => {
    // The first instance reaches the server through a proxy the test cuts: from the server's
    // side, a crashed instance holding an unacknowledged task.
    const proxy = await tcpProxy(4222)
    let release: () => void = () => undefined
    const took: string[] = []
    const done: string[] = []
    const first = await service(
      'tally',
      (s) =>
        s.add('task:tally.vote.record', async (m) => {
          took.push(`first ${String(m.voter)}`)
          await new Promise<void>((r) => (release = r))
        }),
      { url: `nats://127.0.0.1:${proxy.port}`, ackWaitMs: 1000 },
    )
    const g = await gateway()
    await g.send('tally.vote.record', { voter: 'v1' })
    await waitFor(() => took.length === 1, 'the first instance to take the task')
    proxy.cut()
    let readyNow = true
    for (const until = Date.now() + 5000; readyNow && Date.now() < until; await settle(20))
      readyNow = (await first.readiness()).ready
    expect(readyNow).to.equal(false)
    await service(
      'tally',
      (s) =>
        s.add('task:tally.vote.record', (m) => {
          done.push(`second ${String(m.voter)}`)
        }),
      { ackWaitMs: 1000 },
    )
    await waitFor(() => done.length === 1, 'the second instance to get the task again', 10_000)
    expect(done).to.deep.equal(['second v1'])
    release()
    proxy.close()
  })
})

/** A TCP proxy to a local port that a test can cut, as a network failure would. */
async function tcpProxy(to: number): Promise<{ port: number; cut(): void; close(): void }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = new Socket()
    upstream.connect(to, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const cut = () => {
    // Refuse reconnections as well: the instance stays away.
    server.close()
    for (const s of sockets) s.destroy()
  }
  return { port, cut, close: cut }
}
