import { expect } from 'chai'
import type { Message } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import type { SagaEngine, SagaHandle, SagaStatus } from '../../../plugins/saga/index.js'
import sagas from '../../../plugins/saga/index.js'
import { quietLogger, waitFor } from '../../helpers/wait.js'

/** One way of running the behaviour tests: the engine, and whether it survives a restart. */
export interface EngineCase {
  readonly name: string
  /** A fresh engine; for a restart, one that finds what the last one left (same store, same executor). */
  make(): SagaEngine
  /** Why the restart tests cannot run on this engine, or undefined when they can. */
  readonly noRestart?: string
}

/** A step of a plan the test saga follows. */
export interface PlanStep {
  name: string
  /** `always`, or how many first calls fail with UNAVAILABLE. */
  fail?: 'always' | 'never' | number
  /** The call answers after 300 ms (past its time limit). */
  hang?: boolean
  /** The call (once past its failures) answers only when the test releases it. */
  hold?: boolean
  undoFail?: boolean
  /** The call answers with a BigInt in its result, which JSON cannot write. */
  bigint?: boolean
  attempts?: number
  timeoutMs?: number
  sleep?: string | number
  wait?: string | number
}

interface Call {
  cmd: 'do' | 'undo'
  step: string
  key: string
  saga: string
}

/** A service with one saga that follows the plan in its trigger, and participants that log their calls. */
export async function buildService(engine: SagaEngine, variant: 'same' | 'reversed' = 'same') {
  const calls: Call[] = []
  const events: (Message & { event: string })[] = []
  const failures = new Map<string, number>()
  const held = new Map<string, () => void>()
  const stoa = createStoa({ name: 'trips', graceMs: 1000, logger: quietLogger() })
    .use(sagas, { engine, retry: { attempts: 1, backoffMs: 5 }, undo: { attempts: 3, backoffMs: 5 } })
    .add('role:part,cmd:do', async (msg, ctx) => {
      const step = String(msg.step)
      calls.push({ cmd: 'do', step, key: ctx.id, saga: String(msg.saga) })
      if (msg.fail === 'always') throw new StoaError('INVALID_MESSAGE', `${step} refused`)
      if (typeof msg.fail === 'number') {
        const n = (failures.get(ctx.id) ?? 0) + 1
        failures.set(ctx.id, n)
        if (n <= msg.fail) throw new StoaError('UNAVAILABLE', `${step} not now`)
      }
      if (msg.hang === true) await new Promise((r) => setTimeout(r, 300))
      if (msg.hold === true) await new Promise<void>((r) => held.set(ctx.id, r))
      if (msg.bigint === true) return { done: step, n: 1n }
      return { done: step }
    })
    .add('role:part,cmd:undo', async (msg, ctx) => {
      calls.push({ cmd: 'undo', step: String(msg.step), key: ctx.id, saga: String(msg.saga) })
      if (msg.fail === true) throw new StoaError('UNAVAILABLE', `undo of ${String(msg.step)} fails`)
      return { undone: msg.step, had: msg.had }
    })
    .on('saga.*', (msg, ctx) => {
      events.push({ ...msg, event: String(ctx.event) })
    })
  stoa.saga('role:trip,cmd:book', {
    id: (msg) => String(msg.id),
    version: 1,
    async run(msg, saga) {
      const plan = [...(msg.plan as PlanStep[])]
      if (variant === 'reversed') plan.reverse()
      const out: unknown[] = []
      for (const s of plan) {
        if (s.sleep !== undefined) await saga.sleep(s.name, s.sleep)
        else if (s.wait !== undefined) {
          const got = await saga.waitFor(s.name, { timeout: s.wait })
          if (got === undefined) throw saga.abort(`no ${s.name} in time`)
          out.push(got)
        } else {
          const retry = s.attempts === undefined ? undefined : { attempts: s.attempts, backoffMs: 5 }
          out.push(
            await saga.act(
              s.name,
              {
                role: 'part',
                cmd: 'do',
                step: s.name,
                saga: saga.id,
                fail: s.fail ?? 'never',
                hang: s.hang === true,
                hold: s.hold === true,
                bigint: s.bigint === true,
              },
              {
                undo: (r: { done?: string } | undefined) => ({
                  role: 'part',
                  cmd: 'undo',
                  step: s.name,
                  saga: saga.id,
                  fail: s.undoFail === true,
                  had: r?.done ?? null,
                }),
                ...(retry === undefined ? {} : { retry }),
                ...(s.timeoutMs === undefined ? {} : { timeoutMs: s.timeoutMs }),
              },
            ),
          )
        }
      }
      return msg.at === undefined ? { out } : { out, at: msg.at }
    },
  })
  await stoa.ready()
  const handle: SagaHandle = stoa.handleOf(sagas)
  const book = (id: string, plan: PlanStep[], extra: Message = {}) =>
    stoa.act({ ...extra, role: 'trip', cmd: 'book', id, plan }) as Promise<{ id: string }>
  const ended = async (id: string): Promise<SagaStatus> => {
    const st = await handle.settled(id)
    if (st === undefined) throw new Error(`no saga ${id}`)
    return st
  }
  /** Waits until the saga shows `state` (bounded). */
  const reaches = async (id: string, state: string): Promise<SagaStatus> => {
    const until = Date.now() + 10_000
    for (;;) {
      const st = await handle.status(id)
      if (st?.state === state) return st
      if (Date.now() > until) throw new Error(`saga ${id} never reached ${state}: ${JSON.stringify(st)}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  const of = (id: string) => calls.filter((c) => c.saga === id).map((c) => `${c.cmd}:${c.step}`)
  /** Lets the held call with the message id `key` answer; false while it has not arrived. */
  const release = (key: string): boolean => {
    const go = held.get(key)
    held.delete(key)
    go?.()
    return go !== undefined
  }
  return { stoa, calls, events, handle, book, ended, reaches, of, release }
}

const three: PlanStep[] = [{ name: 'reserve' }, { name: 'charge' }, { name: 'ship' }]

/** The saga behaviour every engine must show. */
export function sagaBehaviour(engine: EngineCase): void {
  describe(`sagas on the ${engine.name} engine`, function () {
    this.timeout(20_000)
    let svc: Awaited<ReturnType<typeof buildService>>
    const run = Math.random().toString(36).slice(2, 8)
    const id = (name: string) => `${run}-${name}`

    before(async () => {
      svc = await buildService(engine.make())
    })
    after(async () => {
      await svc?.stoa.close()
    })

    it('completes: each step called once with the key <saga id>/<step>, status completed, saga.completed', async () => {
      const sid = id('ok')
      const started = await svc.book(sid, three)
      expect(started.id).to.equal(sid)
      const st = await svc.ended(sid)
      expect(st.state).to.equal('completed')
      expect(st.result).to.deep.equal({ out: [{ done: 'reserve' }, { done: 'charge' }, { done: 'ship' }] })
      expect(st.steps.map((s) => [s.step, s.kind, s.state, s.attempts])).to.deep.equal([
        ['reserve', 'act', 'done', 1],
        ['charge', 'act', 'done', 1],
        ['ship', 'act', 'done', 1],
      ])
      for (const s of st.steps) expect(s.endedAt).to.be.a('number').at.least(s.startedAt)
      expect(svc.calls.filter((c) => c.saga === sid).map((c) => c.key)).to.deep.equal([
        `${sid}/reserve`,
        `${sid}/charge`,
        `${sid}/ship`,
      ])
      expect(svc.events.filter((e) => e.id === sid).map((e) => e.event)).to.deep.equal(['saga.completed'])
    })

    it('records JSON: a Date in the trigger reaches run as its ISO string; a step result JSON cannot write fails the saga and is undone', async () => {
      const dated = id('dated')
      const at = new Date('2026-01-02T03:04:05.678Z')
      await svc.book(dated, [{ name: 'reserve' }], { at })
      const st = await svc.ended(dated)
      expect(st.state).to.equal('completed')
      expect(st.result).to.deep.equal({ out: [{ done: 'reserve' }], at: at.toISOString() })
      const big = id('bigint')
      await svc.book(big, [{ name: 'reserve' }, { name: 'charge', bigint: true }, { name: 'ship' }])
      const failed = await svc.ended(big)
      expect(failed.state).to.equal('compensated')
      expect(failed.error?.code).to.equal('ACTION_FAILED')
      expect(svc.of(big)).to.deep.equal(['do:reserve', 'do:charge', 'undo:charge', 'undo:reserve'])
    })

    it('a failure at each position undoes exactly the attempted steps, in reverse order', async () => {
      const expected = [
        ['do:reserve', 'undo:reserve'],
        ['do:reserve', 'do:charge', 'undo:charge', 'undo:reserve'],
        ['do:reserve', 'do:charge', 'do:ship', 'undo:ship', 'undo:charge', 'undo:reserve'],
      ]
      for (let at = 0; at < 3; at++) {
        const sid = id(`fail${at}`)
        await svc.book(
          sid,
          three.map((s, i) => (i === at ? { ...s, fail: 'always' as const } : s)),
        )
        const st = await svc.ended(sid)
        expect(st.state, sid).to.equal('compensated')
        expect(st.error?.code).to.equal('INVALID_MESSAGE')
        expect(svc.of(sid)).to.deep.equal(expected[at])
        const undoKeys = svc.calls.filter((c) => c.saga === sid && c.cmd === 'undo').map((c) => c.key)
        expect(undoKeys[0]).to.equal(`${sid}/undo:${three[at]!.name}`)
        expect(svc.events.filter((e) => e.id === sid).map((e) => e.event)).to.deep.equal(['saga.compensated'])
      }
    })

    it('retries a retryable failure and shows the attempts', async () => {
      const sid = id('retry')
      await svc.book(sid, [{ name: 'charge', fail: 2, attempts: 3 }])
      const st = await svc.ended(sid)
      expect(st.state).to.equal('completed')
      expect(st.steps[0]).to.include({ step: 'charge', state: 'done', attempts: 3 })
      expect(svc.calls.filter((c) => c.saga === sid).map((c) => c.key)).to.deep.equal([
        `${sid}/charge`,
        `${sid}/charge`,
        `${sid}/charge`,
      ])
    })

    it('shows an act still in flight as running, with its start and attempt, before its outcome is recorded', async () => {
      const sid = id('flight')
      const t0 = Date.now()
      await svc.book(sid, [{ name: 'reserve' }, { name: 'charge', fail: 1, attempts: 3, hold: true }])
      // The first call of charge failed; the second is held by the participant.
      await waitFor(() => svc.calls.filter((c) => c.key === `${sid}/charge`).length === 2, 'the second call of charge')
      const st = await svc.handle.status(sid)
      expect(st?.state).to.equal('running')
      expect(st?.steps.map((s) => `${s.step}:${s.state}`)).to.deep.equal(['reserve:done', 'charge:running'])
      const charge = st!.steps[1]!
      expect(charge).to.include({ kind: 'act', attempts: 2 })
      expect(charge.startedAt).to.be.within(t0, Date.now())
      expect(charge.endedAt).to.equal(undefined)
      expect(svc.release(`${sid}/charge`)).to.equal(true)
      const ended = await svc.ended(sid)
      expect(ended.steps.map((s) => `${s.step}:${s.state}`)).to.deep.equal(['reserve:done', 'charge:done'])
      expect(ended.steps[1]).to.include({ attempts: 2, startedAt: charge.startedAt })
    })

    it('undoes a step whose call timed out: it may have happened', async () => {
      const sid = id('timeout')
      await svc.book(sid, [{ name: 'reserve' }, { name: 'charge', hang: true, timeoutMs: 50 }])
      const st = await svc.ended(sid)
      expect(st.state).to.equal('compensated')
      expect(st.error?.code).to.equal('TIMEOUT')
      expect(st.steps.find((s) => s.step === 'charge')).to.include({ state: 'failed' })
      expect(svc.of(sid)).to.deep.equal(['do:reserve', 'do:charge', 'undo:charge', 'undo:reserve'])
    })

    it('ends compensation_failed naming the step whose undo keeps failing; the other undos still run', async () => {
      const sid = id('undofail')
      await svc.book(sid, [{ name: 'reserve' }, { name: 'charge', undoFail: true }, { name: 'ship', fail: 'always' }])
      const st = await svc.ended(sid)
      expect(st.state).to.equal('compensation_failed')
      expect(st.failedUndos).to.deep.equal(['charge'])
      expect(st.steps.find((s) => s.step === 'undo:charge')).to.include({ state: 'failed', attempts: 3 })
      expect(svc.of(sid)).to.deep.equal([
        'do:reserve',
        'do:charge',
        'do:ship',
        'undo:ship',
        'undo:charge',
        'undo:charge',
        'undo:charge',
        'undo:reserve',
      ])
      const ev = svc.events.filter((e) => e.id === sid)
      expect(ev.map((e) => e.event)).to.deep.equal(['saga.failed'])
      expect(ev[0]).to.include({ state: 'compensation_failed' })
    })

    it('makes one run of a trigger started many times at once', async () => {
      const sid = id('once')
      const answers = await Promise.all(Array.from({ length: 5 }, () => svc.book(sid, three)))
      for (const a of answers) expect(a.id).to.equal(sid)
      await svc.ended(sid)
      expect(svc.of(sid)).to.deep.equal(['do:reserve', 'do:charge', 'do:ship'])
      await svc.book(sid, three)
      await svc.ended(sid)
      expect(svc.of(sid)).to.have.length(3)
    })

    it('waits for a signal (status waiting), then goes on with its data', async () => {
      const sid = id('signal')
      await svc.book(sid, [{ name: 'reserve' }, { name: 'shipped', wait: '1m' }, { name: 'close' }])
      const waiting = await svc.reaches(sid, 'waiting')
      expect(waiting.steps.map((s) => [s.step, s.state])).to.deep.equal([
        ['reserve', 'done'],
        ['shipped', 'waiting'],
      ])
      expect(
        await svc.stoa.act({ role: 'saga', cmd: 'signal', id: sid, name: 'shipped', data: { parcel: 7 } }),
      ).to.deep.equal({
        id: sid,
        signal: 'shipped',
      })
      const st = await svc.ended(sid)
      expect(st.state).to.equal('completed')
      expect(st.result).to.deep.equal({ out: [{ done: 'reserve' }, { parcel: 7 }, { done: 'close' }] })
    })

    it('a wait that times out aborts with SAGA_ABORTED, and the steps are undone', async () => {
      const sid = id('waitout')
      await svc.book(sid, [{ name: 'reserve' }, { name: 'shipped', wait: 30 }])
      const st = await svc.ended(sid)
      expect(st.state).to.equal('compensated')
      expect(st.error).to.include({ code: 'SAGA_ABORTED', message: 'no shipped in time' })
      expect(st.steps.find((s) => s.step === 'shipped')).to.include({ state: 'timed_out' })
      expect(svc.of(sid)).to.deep.equal(['do:reserve', 'undo:reserve'])
    })

    it('sleeps, then goes on; a cancel wakes a sleeping saga, which is undone', async () => {
      const short = id('nap')
      await svc.book(short, [{ name: 'reserve' }, { name: 'nap', sleep: '20ms' }, { name: 'ship' }])
      expect((await svc.ended(short)).state).to.equal('completed')
      expect(svc.of(short)).to.deep.equal(['do:reserve', 'do:ship'])

      const sid = id('cancel')
      await svc.book(sid, [{ name: 'reserve' }, { name: 'cool-off', sleep: '10m' }, { name: 'ship' }])
      await svc.reaches(sid, 'sleeping')
      await svc.stoa.act({ role: 'saga', cmd: 'cancel', id: sid, reason: 'customer changed their mind' })
      const st = await svc.ended(sid)
      expect(st.state).to.equal('compensated')
      expect(st.error).to.include({ code: 'SAGA_ABORTED', message: 'cancelled: customer changed their mind' })
      expect(svc.of(sid)).to.deep.equal(['do:reserve', 'undo:reserve'])
    })

    it('lists and shows sagas; an unknown id is NOT_FOUND, an ended saga takes no signal', async () => {
      const sid = id('ok')
      const listed = (await svc.stoa.act({ role: 'saga', cmd: 'list', limit: 100 })) as { id: string; state: string }[]
      expect(listed.find((s) => s.id === sid)).to.include({ state: 'completed', saga: 'cmd:book,role:trip' })
      const done = (await svc.stoa.act({ role: 'saga', cmd: 'list', state: 'compensation_failed' })) as { id: string }[]
      expect(done.map((s) => s.id)).to.deep.equal([id('undofail')])
      const err = await svc.stoa.act({ role: 'saga', cmd: 'status', id: 'nobody' }).catch((e: unknown) => e)
      expect(err).to.be.instanceOf(StoaError).with.property('code', 'NOT_FOUND')
      const late = await svc.stoa.act({ role: 'saga', cmd: 'signal', id: sid, name: 'x' }).catch((e: unknown) => e)
      expect(late).to.be.instanceOf(StoaError).with.property('code', 'INVALID_MESSAGE')
    })
  })

  describe(`sagas on the ${engine.name} engine, across a restart`, function () {
    this.timeout(30_000)
    before(function () {
      if (engine.noRestart !== undefined) {
        console.log(`      skipped: ${engine.noRestart}`)
        this.skip()
      }
    })
    const run = Math.random().toString(36).slice(2, 8)

    it('a saga left waiting resumes in the next worker without calling its finished steps again', async () => {
      const sid = `${run}-resume`
      const first = await buildService(engine.make())
      await first.book(sid, [{ name: 'reserve' }, { name: 'shipped', wait: '1m' }, { name: 'close' }])
      await first.reaches(sid, 'waiting')
      await first.stoa.close()
      const second = await buildService(engine.make())
      try {
        await second.reaches(sid, 'waiting')
        await second.stoa.act({ role: 'saga', cmd: 'signal', id: sid, name: 'shipped' })
        expect((await second.ended(sid)).state).to.equal('completed')
        expect(first.of(sid)).to.deep.equal(['do:reserve'])
        expect(second.of(sid)).to.deep.equal(['do:close'])
      } finally {
        await second.stoa.close()
      }
    })

    it('refuses with SAGA_CHANGED a run whose step order changed without a new version', async () => {
      const sid = `${run}-changed`
      const first = await buildService(engine.make())
      await first.book(sid, [{ name: 'reserve' }, { name: 'charge' }, { name: 'shipped', wait: '1m' }])
      await first.reaches(sid, 'waiting')
      await first.stoa.close()
      const second = await buildService(engine.make(), 'reversed')
      try {
        const st = await second.ended(sid)
        expect(st.state).to.equal('failed')
        expect(st.error?.code).to.equal('SAGA_CHANGED')
        expect(second.of(sid)).to.deep.equal([])
      } finally {
        await second.stoa.close()
      }
    })
  })
}
