import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import sagas from '../../../plugins/saga/index.js'
import type { Harness } from '../../../plugins/testing/index.js'
import { createHarness } from '../../../plugins/testing/index.js'

/*
 * The in-memory saga engine's timers run on the instance's clock: under the virtual clock of
 * stoa/testing a step's retry backoff, a sleep and a waitFor's timeout each end when the test
 * moves time past them, so a saga that waits an hour runs in milliseconds. (The DBOS engine's
 * are durable timers in PostgreSQL, on the database's time: they cannot follow a virtual clock.)
 */
describe('sagas on the virtual clock: backoff, sleep and waitFor follow the test time', () => {
  let h: Harness

  afterEach(() => h?.close())

  it('retries after its backoff, wakes after its sleep and times its wait out, each when the clock gets there', async () => {
    h = createHarness()
    const calls: string[] = []
    let charges = 0
    const svc = await h.start((o) => {
      const stoa = createStoa({ name: 'trips', ...o })
        .use(sagas, { retry: { attempts: 2, backoffMs: 20_000 } })
        .add('role:part,cmd:do', (msg) => {
          calls.push(String(msg.step))
          if (msg.step === 'charge' && ++charges === 1) throw new StoaError('UNAVAILABLE', 'not now')
          return { done: msg.step }
        })
        .add('role:part,cmd:undo', (msg) => void calls.push(`undo ${String(msg.step)}`))
      stoa.saga('role:trip,cmd:book', {
        id: (msg) => String(msg.id),
        version: 1,
        async run(_msg, saga) {
          const step = (name: string) =>
            saga.act(
              name,
              { role: 'part', cmd: 'do', step: name },
              { undo: () => ({ role: 'part', cmd: 'undo', step: name }) },
            )
          await step('charge')
          await saga.sleep('cool-off', '10m')
          await step('ship')
          if ((await saga.waitFor('signed', { timeout: '1h' })) === undefined) throw saga.abort('not signed in time')
          return 'signed'
        },
      })
      return stoa
    })
    const handle = svc.instances()[0]!.handleOf(sagas)
    await h.act('role:trip,cmd:book', { id: 't1' })
    await h.settle(0)
    expect(calls, 'the first try').to.deep.equal(['charge'])
    await h.advance('19s')
    expect(calls, 'before the backoff').to.deep.equal(['charge'])
    await h.advance('1s')
    await h.settle(0)
    expect(calls, 'after the backoff').to.deep.equal(['charge', 'charge'])
    expect((await handle.status('t1'))?.state).to.equal('sleeping')
    await h.advance('9m59s')
    expect(calls, 'asleep').to.deep.equal(['charge', 'charge'])
    await h.advance('1s')
    await h.settle(0)
    expect(calls, 'awake').to.deep.equal(['charge', 'charge', 'ship'])
    expect((await handle.status('t1'))?.state).to.equal('waiting')
    await h.advance('59m59s')
    expect((await handle.status('t1'))?.state).to.equal('waiting')
    await h.advance('1s')
    const ended = await handle.settled('t1')
    expect(ended?.state).to.equal('compensated')
    expect(calls).to.deep.equal(['charge', 'charge', 'ship', 'undo ship', 'undo charge'])
  })
})
