import { expect } from 'chai'
import { z } from 'zod'
import type { Stoa } from '../../actions/index.js'
import { batchAction, createStoa, StoaError } from '../../actions/index.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { quietLogger } from '../helpers/wait.js'

/**
 * Batched task handlers in process: a gateway sends over a memory bus whose sends resolve with
 * the handler's outcome (`tasks: 'handled'`), so each delivery's own fate is seen by its sender.
 */
describe('actions/batch', () => {
  const started: Stoa<any>[] = []
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.close()
  })

  async function pair(handler: Parameters<typeof batchAction>[0]['handler'], max = 5, waitMs = 2000) {
    const bus = createMemoryBus({ tasks: 'handled' })
    const tally = createStoa({ name: 'tally', logger: quietLogger() })
    tally.add(
      'task:tally.vote.record',
      batchAction({ schema: z.object({ voter: z.string() }), batch: { max, waitMs }, handler }),
    )
    tally.listen(createMemoryTransport({ bus }))
    const gateway = createStoa({ name: 'gateway', logger: quietLogger() }).client(createMemoryTransport({ bus }))
    started.push(tally, gateway)
    await Promise.all([tally.ready(), gateway.ready()])
    return gateway
  }

  const voters = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`)

  it('hands the deliveries over in batches of at most max, each once, with its own context', async () => {
    const batches: string[][] = []
    const traces = new Set<string>()
    const gateway = await pair((items) => {
      batches.push(items.map((i) => i.msg.voter as string))
      for (const i of items) traces.add(i.ctx.trace)
    })
    // Ten deliveries with max 5 and a long wait: only full batches can run, so there are two.
    await Promise.all(voters(10).map((voter) => gateway.send('tally.vote.record', { voter }, { trace: `t-${voter}` })))
    expect(batches.map((b) => b.length)).to.deep.equal([5, 5])
    expect(batches.flat().sort()).to.deep.equal(voters(10).sort())
    expect(traces.size).to.equal(10)
  })

  it('runs a batch that is not full once its first delivery waited waitMs', async () => {
    const batches: number[] = []
    const gateway = await pair((items) => void batches.push(items.length), 100, 20)
    await Promise.all(voters(3).map((voter) => gateway.send('tally.vote.record', { voter })))
    expect(batches).to.deep.equal([3])
  })

  it('bisects a failing batch: the failing delivery fails alone with its error, the rest commit', async () => {
    const committed: string[] = []
    const tried: number[] = []
    const gateway = await pair((items) => {
      tried.push(items.length)
      if (items.some((i) => i.msg.voter === 'v3')) throw new StoaError('INVALID_MESSAGE', 'v3 cannot be recorded')
      committed.push(...items.map((i) => i.msg.voter as string))
    }, 8)
    const outcomes = await Promise.allSettled(voters(8).map((voter) => gateway.send('tally.vote.record', { voter })))
    const failed = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [[`v${i}`, (o.reason as StoaError).code]] : [],
    )
    expect(failed).to.deep.equal([['v3', 'INVALID_MESSAGE']])
    expect(committed.sort()).to.deep.equal(
      voters(8)
        .filter((v) => v !== 'v3')
        .sort(),
    )
    // 8 fails; v0-v3 fails; v0-v1 commits; v2-v3 fails; v2 commits, v3 fails alone; v4-v7 commits.
    expect(tried).to.deep.equal([8, 4, 2, 2, 1, 1, 4])
  })

  it('fails a whole batch at once, unsplit, when something it needs is UNAVAILABLE', async () => {
    let calls = 0
    const gateway = await pair(() => {
      calls++
      throw new StoaError('UNAVAILABLE', 'the database is down')
    }, 4)
    const outcomes = await Promise.allSettled(voters(4).map((voter) => gateway.send('tally.vote.record', { voter })))
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as StoaError).code : 'ok'))).to.deep.equal([
      'UNAVAILABLE',
      'UNAVAILABLE',
      'UNAVAILABLE',
      'UNAVAILABLE',
    ])
    expect(calls).to.equal(1)
  })

  it('fails an invalid delivery alone with INVALID_MESSAGE before it joins a batch', async () => {
    const batches: string[][] = []
    const gateway = await pair((items) => void batches.push(items.map((i) => i.msg.voter as string)), 2)
    const outcomes = await Promise.allSettled([
      gateway.send('tally.vote.record', { voter: 'a' }),
      gateway.send('tally.vote.record', { voter: 7 }),
      gateway.send('tally.vote.record', { voter: 'b' }),
    ])
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as StoaError).code : 'ok'))).to.deep.equal([
      'ok',
      'INVALID_MESSAGE',
      'ok',
    ])
    expect(batches).to.deep.equal([['a', 'b']])
  })

  it('refuses batches on an act and batch options out of range, naming the field', () => {
    const stoa = createStoa({ name: 'tally', logger: quietLogger() })
    const def = batchAction({ batch: { max: 2, waitMs: 10 }, handler: () => undefined })
    expect(() => stoa.add('role:tally,cmd:record', def))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    const bad = (() => {
      try {
        batchAction({ batch: { max: 0, waitMs: Number.NaN }, handler: () => undefined })
      } catch (err) {
        return err as StoaError
      }
    })()
    expect(bad?.code).to.equal('INVALID_PLUGIN')
    expect(bad?.details?.fields).to.deep.equal(['batch.max', 'batch.waitMs'])
  })

  it('tells hooks and list() how the action batches', () => {
    const stoa = createStoa({ name: 'tally', logger: quietLogger() })
    stoa.add('task:tally.vote.record', batchAction({ batch: { max: 50, waitMs: 5 }, handler: () => undefined }))
    expect(stoa.find('task:tally.vote.record')?.batch).to.deep.equal({ max: 50, waitMs: 5 })
  })
})
