import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { quietLogger, settle, waitFor } from '../../helpers/wait.js'

const make = (name: string) => createStoa({ name, logger: quietLogger() })

describe('transports/memory', () => {
  it('shares tasks between competing instances of a service in turn', async () => {
    const bus = createMemoryBus()
    const counts = [0, 0]
    const instances = [0, 1].map((i) => {
      const s = make('tally')
      s.add('task:tally.vote.record', () => void counts[i]!++)
      return s.listen(createMemoryTransport({ bus }))
    })
    const gateway = make('gateway').client(createMemoryTransport({ bus }))
    await Promise.all([...instances, gateway].map((s) => s.ready()))
    for (let i = 0; i < 10; i++) await gateway.send('tally.vote.record', { i })
    await waitFor(() => counts[0]! + counts[1]! === 10, 'ten tasks')
    expect(counts).to.deep.equal([5, 5])
  })

  it('gives the receiver a copy, never the sender’s objects', async () => {
    const bus = createMemoryBus()
    const server = make('math').listen(createMemoryTransport({ bus }))
    server.add('role:mutate', (m) => {
      ;(m.list as number[]).push(99)
      return m.list
    })
    const client = make('gateway').client(createMemoryTransport({ bus }), ['role:mutate'])
    await Promise.all([server.ready(), client.ready()])
    const list = [1]
    expect(await client.act('role:mutate', { list })).to.deep.equal([1, 99])
    expect(list).to.deep.equal([1])
  })

  it('answers an act no service takes with NOT_FOUND naming the pinned pairs, not the data', async () => {
    const bus = createMemoryBus()
    const server = make('users').listen(createMemoryTransport({ bus }), ['role:user,cmd:create'])
    server.add('role:user,cmd:create', () => 'made')
    server.add('role:user,cmd:delete', () => 'gone')
    const client = make('gateway').client(createMemoryTransport({ bus }), ['role:user'])
    await Promise.all([server.ready(), client.ready()])
    const data = { email: 'ann@example.com', password: 'hunter2' }
    const err = await client.act('role:user,cmd:delete', data).catch((e: unknown) => e as StoaError)
    expect(err).to.be.instanceOf(StoaError)
    expect((err as StoaError).toJSON()).to.deep.equal({
      code: 'NOT_FOUND',
      message: 'no service on the bus answers "role:user"',
    })
    // Straight to the listener, past the bus: its pins refuse it, naming the pins' pairs.
    const reply = await bus.deliver({
      kind: 'act',
      msg: { role: 'user', cmd: 'delete', ...data },
      meta: { id: 'a', trace: 'b' },
    })
    expect(reply).to.deep.equal({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'no service on the bus answers this act' },
    })
  })

  it('still delivers events to local subscribers of a service that only listens', async () => {
    const bus = createMemoryBus()
    const s = make('tally').listen(createMemoryTransport({ bus }))
    const got: unknown[] = []
    s.on('vote.recorded', (m) => void got.push(m.voter))
    await s.ready()
    await s.emit('vote.recorded', { voter: 'v9' })
    await waitFor(() => got.length === 1, 'the local subscriber')
  })

  it('answers a task nobody handles with NOT_FOUND and delivers nothing after close', async () => {
    const bus = createMemoryBus()
    const gateway = make('gateway').client(createMemoryTransport({ bus }))
    const tally = make('tally')
    let handled = 0
    tally.add('task:tally.vote.record', () => void handled++)
    tally.listen(createMemoryTransport({ bus }))
    await Promise.all([gateway.ready(), tally.ready()])
    const missing = await gateway.send('audit.vote.check').catch((e: { code: string }) => e.code)
    expect(missing).to.equal('NOT_FOUND')
    await tally.close()
    const after = await gateway.send('tally.vote.record').catch((e: { code: string }) => e.code)
    expect(after).to.equal('NOT_FOUND')
    await settle(30)
    expect(handled).to.equal(0)
    expect(bus.serviceNames()).to.deep.equal([])
  })

  it('tries the next client transport when one cannot place a task', async () => {
    const busA = createMemoryBus()
    const busB = createMemoryBus()
    const got: unknown[] = []
    const tally = make('tally').listen(createMemoryTransport({ bus: busB }))
    tally.add('task:tally.vote.record', (m) => void got.push(m.voter))
    const gateway = make('gateway')
      .client(createMemoryTransport({ bus: busA }))
      .client(createMemoryTransport({ bus: busB }))
    await Promise.all([tally.ready(), gateway.ready()])
    await gateway.send('tally.vote.record', { voter: 'v7' })
    await waitFor(() => got.length === 1, 'the task through the second client')
  })
})
