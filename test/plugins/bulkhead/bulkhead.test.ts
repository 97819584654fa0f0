import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, definePlugin, StoaError } from '../../../actions/index.js'
import bulkhead from '../../../plugins/bulkhead/index.js'
import { VirtualClock } from '../../../plugins/testing/index.js'
import { waitFor } from '../../helpers/wait.js'

/** An action that holds its turn until the test releases it. */
function held() {
  const releases: (() => void)[] = []
  let started = 0
  return {
    get started() {
      return started
    },
    handler: () =>
      new Promise<string>((resolve) => {
        started++
        releases.push(() => resolve('done'))
      }),
    releaseOne: () => releases.shift()!(),
  }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: StoaError) => err.code,
  )
}

describe('bulkhead plugin', () => {
  it('runs up to `concurrency` calls, queues up to `queue`, and refuses the next with OVERLOADED at once', async () => {
    const slow = held()
    const stoa = createStoa()
      .use(bulkhead)
      .add('role:slow', slow.handler, { bulkhead: { concurrency: 2, queue: 1 } })
    const calls = [stoa.act('role:slow'), stoa.act('role:slow'), stoa.act('role:slow')]
    await waitFor(() => slow.started === 2, 'two calls running')
    const err = (await stoa.act('role:slow').catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('OVERLOADED')
    expect(err.details).to.deep.include({ bulkhead: 'role:slow', concurrency: 2, queue: 1, retryAfterMs: 1000 })
    expect(slow.started).to.equal(2)
    slow.releaseOne()
    // The queued call takes the freed turn.
    await waitFor(() => slow.started === 3, 'the queued call to start')
    slow.releaseOne()
    slow.releaseOne()
    expect(await Promise.all(calls)).to.deep.equal(['done', 'done', 'done'])
    // Everything ended: the full limit is free again.
    const again = [stoa.act('role:slow'), stoa.act('role:slow')]
    await waitFor(() => slow.started === 5, 'two new calls running')
    slow.releaseOne()
    slow.releaseOne()
    await Promise.all(again)
  })

  it('frees the turn of a call that fails, synchronously or not', async () => {
    const stoa = createStoa()
      .use(bulkhead)
      .add(
        'role:fail',
        (m) => {
          if (m.sync === true) throw new StoaError('INVALID_MESSAGE', 'no')
          return Promise.reject(new StoaError('NOT_FOUND', 'no'))
        },
        { bulkhead: { concurrency: 1 } },
      )
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(stoa.act('role:fail', { sync: true }))).to.equal('INVALID_MESSAGE')
      expect(await codeOf(stoa.act('role:fail', { sync: false }))).to.equal('NOT_FOUND')
    }
  })

  it('drops a queued call whose deadline passed while it waited, with TIMEOUT, and runs the next', async () => {
    const slow = held()
    const stoa = createStoa()
      .use(bulkhead)
      .add('role:slow', slow.handler, { bulkhead: { concurrency: 1, queue: 2 } })
    const first = stoa.act('role:slow')
    await waitFor(() => slow.started === 1, 'the first call')
    const expired = stoa.act('role:slow', {}, { timeoutMs: 20 }).catch((e: StoaError) => e.code)
    const patient = stoa.act('role:slow', {}, { timeoutMs: 5000 })
    expect(await expired).to.equal('TIMEOUT')
    slow.releaseOne()
    await first
    await waitFor(() => slow.started === 2, 'the patient call to start (the expired one never runs)')
    slow.releaseOne()
    expect(await patient).to.equal('done')
  })

  it('drops a queued call by the instance clock: past its deadline on a virtual clock, it never runs', async () => {
    const clock = new VirtualClock()
    const ran: string[] = []
    const releases: (() => void)[] = []
    const stoa = createStoa({ clock })
      .use(bulkhead)
      .add(
        'role:slow',
        (msg) =>
          new Promise<string>((resolve) => {
            ran.push(String(msg.id))
            releases.push(() => resolve('done'))
          }),
        { bulkhead: { concurrency: 1, queue: 2 } },
      )
    const first = stoa.act('role:slow', { id: 'first' }, { timeoutMs: 60_000 })
    const expired = stoa.act('role:slow', { id: 'expired' }, { timeoutMs: 5000 }).catch((e: StoaError) => e.code)
    const patient = stoa.act('role:slow', { id: 'patient' }, { timeoutMs: 60_000 })
    await clock.advance('10s')
    expect(await expired).to.equal('TIMEOUT')
    releases.shift()!()
    await first
    await clock.advance(0)
    expect(ran).to.deep.equal(['first', 'patient'])
    releases.shift()!()
    expect(await patient).to.equal('done')
  })

  it("shares one limit among a plugin's actions, and leaves actions without a limit unwrapped", async () => {
    const slow = held()
    const reports = definePlugin({
      name: 'reports',
      actions: { 'role:report,cmd:a': slow.handler, 'role:report,cmd:b': slow.handler },
    })
    let wrapped = 0
    const counting = definePlugin({
      name: 'counting',
      hooks: {
        inbound: (next) => {
          wrapped++
          return next
        },
      },
    })
    const stoa: Stoa<any> = createStoa()
      .use(bulkhead, { plugins: { reports: { concurrency: 1, queue: 0 } } })
      .use(counting)
      .use(reports)
      .add('role:free', () => 'free')
    const a = stoa.act('role:report,cmd:a')
    await waitFor(() => slow.started === 1, 'report a')
    expect(await codeOf(stoa.act('role:report,cmd:b'))).to.equal('OVERLOADED')
    expect(await stoa.act('role:free')).to.equal('free')
    slow.releaseOne()
    await a
    expect(wrapped).to.equal(3)
  })

  it('refuses a malformed limit when the action is registered, naming it', () => {
    const stoa = createStoa().use(bulkhead)
    expect(() => stoa.add('role:x', () => 1, { bulkhead: { concurrency: 0 } })).to.throw(
      StoaError,
      /action "role:x": option "bulkhead.concurrency"/,
    )
  })
})
