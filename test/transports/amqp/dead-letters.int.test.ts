import { randomBytes } from 'node:crypto'
import amqplib from 'amqplib'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createLogger, createStoa, StoaError } from '../../../actions/index.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signToken } from '../../../plugins/jwt/index.js'
import { createAmqpTransport, dlqAdmin, openDeadLetters } from '../../../transports/amqp/index.js'
import { names } from '../../../transports/amqp/topology.js'
import { run } from '../../bin/run.js'
import { AMQP_URL, deleteTopology, rawChannel } from '../../fixtures/amqp-broker.js'
import { SECRET } from '../../helpers/jwt.js'

const TASK = 'worker.item.process'

/** Waits, bounded, until `queue` holds `count` messages. */
async function untilDepth(queue: string, count: number): Promise<void> {
  const raw = await rawChannel()
  try {
    for (let i = 0; i < 600; i++) {
      if ((await raw.ch.checkQueue(queue)).messageCount === count) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`${queue} never held ${count} messages (it holds ${(await raw.ch.checkQueue(queue)).messageCount})`)
  } finally {
    await raw.close()
  }
}

describe('transports/amqp: dead letters an operator handles (stoa dlq, role:dlq)', function () {
  this.timeout(60_000)
  const prefix = `ops_dlq_${randomBytes(4).toString('hex')}`
  const n = names(prefix)
  const dlq = n.dlq('worker')
  const processed: { id: string }[] = []
  let healed = false
  let worker: Stoa
  let sender: Stoa
  const amqp = `${AMQP_URL}?prefix=${prefix}`

  before(async () => {
    // Attempts 1: every failure dead-letters at once. INVALID_MESSAGE (not retryable) and
    // UNAVAILABLE (retryable) give two codes to filter on.
    worker = createStoa({ name: 'worker', logger: createLogger('silent') })
      .add(`task:${TASK}`, (m) => {
        if (!healed) throw new StoaError(m.fail === 'bad' ? 'INVALID_MESSAGE' : 'UNAVAILABLE', `item ${m.n} failed`)
        processed.push({ id: String(m.n) })
      })
      .listen(createAmqpTransport({ url: AMQP_URL, prefix, attempts: 1 }))
    await worker.ready()
    sender = createStoa({ name: 'sender' }).client(createAmqpTransport({ url: AMQP_URL, prefix }))
    await sender.ready()
    for (let i = 0; i < 6; i++) await sender.send(TASK, { n: i, fail: i % 2 === 0 ? 'bad' : 'down' })
    await untilDepth(dlq, 6)
  })
  after(async () => {
    await sender?.close()
    await worker?.close()
    await deleteTopology(prefix, ['worker', 'sender'], { attempts: 1, backoffMs: 1000, maxBackoffMs: 60_000 })
  })

  it('list shows code, message, attempts, trace id and age of each, and leaves them all in place', async () => {
    const letters = await openDeadLetters({ url: AMQP_URL, prefix, service: 'worker' })
    try {
      const all = await letters.list()
      expect(all.total).to.equal(6)
      expect(all.letters).to.have.length(6)
      const first = all.letters[0]!
      expect(first).to.include({
        code: 'INVALID_MESSAGE',
        message: 'item 0 failed',
        attempts: 1,
        queue: n.tasks('worker'),
        name: TASK,
      })
      expect(first.trace).to.be.a('string').and.not.equal('')
      expect(first.ageMs).to.be.a('number').at.least(0)
      const bad = await letters.list({ code: 'UNAVAILABLE', count: 2 })
      expect(bad.letters.map((l) => l.message)).to.deep.equal(['item 1 failed', 'item 3 failed'])
      expect((await letters.list({ olderThanMs: 86_400_000 })).letters).to.deep.equal([])
      // Listing took nothing away.
      expect((await letters.list()).letters.map((l) => l.id)).to.deep.equal(all.letters.map((l) => l.id))
    } finally {
      await letters.close()
    }
  })

  it('show prints one letter with its headers and body; an unknown id is NOT_FOUND', async () => {
    const list = await run(['dlq', 'list', '--amqp', amqp, '--service', 'worker', '--code', 'INVALID_MESSAGE'])
    expect(list.code, list.stderr).to.equal(0)
    const listed = JSON.parse(list.stdout)
    expect(listed.letters).to.have.length(3)
    const id = listed.letters[0].id
    const shown = await run(['dlq', 'show', id, '--amqp', amqp, '--service', 'worker'])
    expect(shown.code, shown.stderr).to.equal(0)
    const letter = JSON.parse(shown.stdout)
    expect(letter.body).to.deep.equal({ n: 0, fail: 'bad' })
    expect(letter.headers).to.include({ 'x-stoa-error-code': 'INVALID_MESSAGE', 'x-stoa-attempts': 1 })
    const missing = await run(['dlq', 'show', 'no-such-id', '--amqp', amqp, '--service', 'worker'])
    expect(missing.code).to.equal(1)
    expect(missing.stderr).to.match(/^NOT_FOUND: no dead letter no-such-id/)
  })

  it('redrive sends the selected letters back with their tries reset, one audit line each; the rest stay', async () => {
    healed = true
    const r = await run(['dlq', 'redrive', '--amqp', amqp, '--service', 'worker', '--code', 'UNAVAILABLE'])
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.deep.equal({ queue: dlq, redriven: 3 })
    const audit = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(audit.map((a) => a.op)).to.deep.equal(['redrive', 'redrive', 'redrive'])
    expect(audit[0]).to.include({ queue: n.tasks('worker'), code: 'UNAVAILABLE' })
    for (let i = 0; i < 200 && processed.length < 3; i++) await new Promise((res) => setTimeout(res, 25))
    expect(processed.map((p) => p.id).sort()).to.deep.equal(['1', '3', '5'])
    await untilDepth(dlq, 3)
  })

  it('purge asks first: anything but "yes" purges nothing; --yes purges the selected ones', async () => {
    const no = await run(['dlq', 'purge', '--amqp', amqp, '--service', 'worker', '--count', '1'], { stdin: 'no\n' })
    expect(no.code).to.equal(1)
    expect(no.stderr).to.match(/purge 1 dead letter\(s\) from .* type "yes": not confirmed: nothing purged/)
    await untilDepth(dlq, 3)
    const yes = await run(['dlq', 'purge', '--amqp', amqp, '--service', 'worker', '--count', '1'], { stdin: 'yes\n' })
    expect(yes.code, yes.stderr).to.equal(0)
    expect(JSON.parse(yes.stdout)).to.deep.equal({ queue: dlq, purged: 1 })
    const forced = await run(['dlq', 'purge', '--amqp', amqp, '--service', 'worker', '--yes', '--count', '1'])
    expect(JSON.parse(forced.stdout)).to.deep.equal({ queue: dlq, purged: 1 })
    await untilDepth(dlq, 1)
  })

  it('the role:dlq actions require dlq:admin and do the same', async () => {
    const admin = createStoa({ name: 'ops' })
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: { operator: ['dlq:admin'], voter: ['vote:cast'] } })
      .use(dlqAdmin, { url: AMQP_URL, prefix })
    await admin.ready()
    try {
      const token = (roles: string[]) => signToken({ sub: 'op1', roles }, { secret: SECRET, expiresInSec: 60 })
      const refused = await admin
        .act('role:dlq,cmd:list', { service: 'worker' }, { token: token(['voter']) })
        .catch((e: StoaError) => e.code)
      expect(refused).to.equal('FORBIDDEN')
      const listed = (await admin.act('role:dlq,cmd:list', { service: 'worker' }, { token: token(['operator']) })) as {
        total: number
        letters: readonly { id: string }[]
      }
      expect(listed.total).to.equal(1)
      const shown = (await admin.act(
        'role:dlq,cmd:show',
        { service: 'worker', id: listed.letters[0]!.id },
        { token: token(['operator']) },
      )) as { headers: Record<string, unknown> }
      expect(shown.headers['x-stoa-error-code']).to.equal('INVALID_MESSAGE')
      const purged = await admin.act('role:dlq,cmd:purge', { service: 'worker' }, { token: token(['operator']) })
      expect(purged).to.deep.equal({ purged: [listed.letters[0]!.id] })
      await untilDepth(dlq, 0)
    } finally {
      await admin.close()
    }
  })

  it('a letter whose queue is gone is refused by the broker and stays dead-lettered', async () => {
    // A letter as the transport wrote it, but for a queue deleted since: the copy comes back
    // (mandatory), so the dead letter must not have been removed.
    const conn = await amqplib.connect(AMQP_URL)
    try {
      const ch = await conn.createConfirmChannel()
      ch.sendToQueue(dlq, Buffer.from('{"n":99}'), {
        messageId: 'orphan-1',
        type: TASK,
        persistent: true,
        headers: { 'x-stoa-error-code': 'TIMEOUT', 'x-stoa-attempts': 5, 'x-stoa-queue': `${prefix}.tasks.gone` },
      })
      await ch.waitForConfirms()
    } finally {
      await conn.close()
    }
    await untilDepth(dlq, 1)
    const r = await run(['dlq', 'redrive', '--amqp', amqp, '--service', 'worker'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/NOT_FOUND: queue .*tasks\.gone does not exist: the letter stays/)
    await untilDepth(dlq, 1)
    expect(
      JSON.parse((await run(['dlq', 'list', '--amqp', amqp, '--service', 'worker'])).stdout).letters[0],
    ).to.include({
      id: 'orphan-1',
      code: 'TIMEOUT',
    })
    await run(['dlq', 'purge', '--amqp', amqp, '--service', 'worker', '--yes'])
  })

  it('a service without a dead-letter queue is NOT_FOUND; a bad filter is a usage error', async () => {
    const r = await run(['dlq', 'list', '--amqp', amqp, '--service', 'nobody'])
    expect(r.code).to.equal(1)
    expect(r.stderr).to.match(/^NOT_FOUND: no dead-letter queue /)
    const bad = await run(['dlq', 'list', '--amqp', amqp, '--service', 'worker', '--older-than', 'soon'])
    expect(bad.code).to.equal(2)
  })
})
