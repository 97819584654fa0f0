import type { Msg, NatsConnection } from '@nats-io/transport-node'
import { createInbox } from '@nats-io/transport-node'
import { expect } from 'chai'
import type { Answer } from '../../../transports/nats/replies.js'
import { Replies } from '../../../transports/nats/replies.js'
import { rawConnection, uniquePrefix } from '../../fixtures/nats-server.js'
import { settle } from '../../helpers/wait.js'

const text = (a: Answer) => (a.ok ? Buffer.from(a.msg.data).toString() : a.why)

describe('nats replies: one reply subject per connection', function () {
  this.timeout(20_000)
  let nc: NatsConnection
  let responder: NatsConnection
  let subject: string
  let replies: Replies

  beforeEach(async () => {
    nc = await rawConnection()
    responder = await rawConnection()
    subject = `${uniquePrefix('replies')}.rpc`
    replies = new Replies(nc, createInbox())
  })

  afterEach(async () => {
    await nc.close()
    await responder.close()
  })

  it('names the next request with the token of one answered, so the server sees few reply subjects', async () => {
    const seen: string[] = []
    responder.subscribe(subject, {
      callback: (_err, m) => {
        seen.push(m.reply!)
        m.respond(Buffer.from(`re ${seen.length}`))
      },
    })
    await responder.flush()
    for (let i = 1; i <= 3; i++) {
      const a = await replies.request(subject, Buffer.from('x'), undefined, Date.now() + 5000, (x) => x)
      expect(text(a)).to.equal(`re ${i}`)
    }
    expect(new Set(seen).size).to.equal(1)
  })

  it('never reuses the token of a request that timed out: its late reply is dropped', async () => {
    const held: Msg[] = []
    responder.subscribe(subject, {
      callback: (_err, m) => {
        if (Buffer.from(m.data).toString() === 'slow') held.push(m)
        else m.respond(Buffer.from('fresh'))
      },
    })
    await responder.flush()
    const late = await replies.request(subject, Buffer.from('slow'), undefined, Date.now() + 50, (x) => x)
    expect(text(late)).to.equal('timeout')
    // The late reply is sent just after the next request: were the token reused, it would answer that one.
    const next = replies.request(subject, Buffer.from('next'), undefined, Date.now() + 5000, (x) => x)
    held[0]!.respond(Buffer.from('late'))
    expect(text(await next)).to.equal('fresh')
    expect(held[0]!.reply).to.not.equal(undefined)
  })

  it('answers no-responders at once and times out a request nobody answers', async () => {
    const none = await replies.request(`${subject}.nobody`, Buffer.from('x'), undefined, Date.now() + 5000, (x) => x)
    expect(text(none)).to.equal('no-responders')
    responder.subscribe(subject, { callback: () => undefined })
    await responder.flush()
    const quiet = await replies.request(subject, Buffer.from('x'), undefined, Date.now() + 100, (x) => x)
    expect(text(quiet)).to.equal('timeout')
  })

  it('ends what waits as closed when the connection closes', async () => {
    responder.subscribe(subject, { callback: () => undefined })
    await responder.flush()
    const waiting = replies.request(subject, Buffer.from('x'), undefined, Date.now() + 10_000, (x) => x)
    await settle(50)
    await nc.close()
    expect(text(await waiting)).to.equal('closed')
  })
})
