import { expect } from 'chai'
import type { Message, Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
import type { Harness, HarnessServiceOptions } from '../../../plugins/testing/index.js'
import { explore } from '../../../plugins/testing/index.js'

/*
 * The saga's promise (docs/sagas.md), checked on stoa/testing over schedules of faults: when a
 * step fails, the undo of every attempted step runs, the failed one included, in strict reverse
 * order, each effect and each undo done once, through lost, duplicated, delayed and reordered
 * calls and a participant that crashes after doing its work and before it answers. The saga
 * runs on the in-memory engine; its participant keeps one effect per idempotency key (the
 * `<saga id>/<step>` message id the saga calls with), as a participant with an inbox does.
 * The slow proof, workers killed mid-saga on DBOS, is crash.e2e.test.ts.
 */

const STEPS = ['reserve', 'charge', 'ship', 'notify'] as const

/** What the participant was asked and did. */
interface Ledger {
  /** Every call that reached it, in order: `do:charge`, `undo:charge`. */
  calls: string[]
  /** The effects it made, one per key: `do:charge`, `undo:charge`. */
  effects: string[]
  keys: Set<string>
}

/** The participant: `do` makes a step's effect (or refuses the step the plan fails), `undo` reverses it. */
function participant(ledger: Ledger) {
  return (o: HarnessServiceOptions): Stoa<any> => {
    const once = (what: string, key: string) => {
      ledger.calls.push(what)
      if (ledger.keys.has(key)) return
      ledger.keys.add(key)
      ledger.effects.push(what)
    }
    return createStoa({ name: 'parts', ...o })
      .add('role:part,cmd:do', (msg, ctx) => {
        if (msg.fail === true) {
          ledger.calls.push(`do:${String(msg.step)}`)
          throw new StoaError('INVALID_MESSAGE', `${String(msg.step)} refused`)
        }
        once(`do:${String(msg.step)}`, ctx.id)
        return { done: msg.step }
      })
      .add('role:part,cmd:undo', (msg, ctx) => once(`undo:${String(msg.step)}`, ctx.id))
  }
}

/** The trips service: one saga through the four steps, the one at `failAt` refused. */
function trips(o: HarnessServiceOptions): Stoa<any> {
  return (
    createStoa({ name: 'trips', ...o })
      // More tries of an undo than a run has faults: compensation always gets through.
      .use(sagas, { engine: createMemoryEngine(), undo: { attempts: 10, backoffMs: 100 } })
      .saga('role:trip,cmd:book', {
        id: (msg) => String(msg.id),
        version: 1,
        async run(msg, saga) {
          for (const [i, step] of STEPS.entries()) {
            const call: Message = { role: 'part', cmd: 'do', step, fail: i === msg.failAt }
            await saga.act(step, call, { undo: () => ({ role: 'part', cmd: 'undo', step }) })
          }
        },
      })
  )
}

/** Books a trip on the trips instance and waits, on the harness, for its saga to end. */
function book(h: Harness, failAt: number | undefined): void {
  const stoa = h.service('trips').instances()[0]!
  h.spawn(async () => {
    await stoa.act({ role: 'trip', cmd: 'book', id: 'trip-1', failAt: failAt ?? -1 })
    await stoa.handleOf(sagas).settled('trip-1')
  }, 'the saga')
}

describe('stoa/saga on stoa/testing: compensation order under faults', function () {
  this.timeout(60_000)

  for (const failAt of [0, 1, 2, 3, undefined]) {
    const where = failAt === undefined ? 'no step refused' : `step ${failAt + 1} (${STEPS[failAt]}) refused`
    it(`${where}: undoes exactly the attempted steps, in reverse, each effect and undo once`, async () => {
      let ledger: Ledger = { calls: [], effects: [], keys: new Set() }
      await explore({
        // The calls of the saga to its participant are the fault points (the trigger is in process).
        faults: ['drop', 'duplicate', 'delay', 'reorder', 'crash'],
        maxFaults: 8,
        runs: 20,
        run: async (h) => {
          ledger = { calls: [], effects: [], keys: new Set() }
          await h.start(participant(ledger))
          await h.start(trips, { calls: ['role:part'] })
          book(h, failAt)
        },
        check: async (h) => {
          const st = await h.service('trips').instances()[0]!.handleOf(sagas).status('trip-1')
          const dos = ledger.effects.filter((e) => e.startsWith('do:'))
          const undos = ledger.effects.filter((e) => e.startsWith('undo:'))
          if (st?.state === 'completed') {
            expect(failAt, 'completed though a step is refused').to.equal(undefined)
            expect(ledger.effects).to.deep.equal(STEPS.map((s) => `do:${s}`))
            return
          }
          expect(st?.state, 'the saga ends').to.equal('compensated')
          // The last step attempted: the refused one, or one whose calls the faults exhausted.
          const last = undos.length - 1
          if (failAt !== undefined) expect(last, 'steps undone').to.be.at.most(failAt)
          const called = Math.max(
            -1,
            ...ledger.calls.filter((c) => c.startsWith('do:')).map((c) => STEPS.indexOf(c.slice(3) as never)),
          )
          expect(called, 'the last step called, which must be undone').to.be.at.most(last)
          expect(undos, 'undos, once each, in reverse').to.deep.equal(
            STEPS.slice(0, last + 1)
              .map((s) => `undo:${s}`)
              .reverse(),
          )
          // Every step before the last did its effect once; the last at most once; none after.
          expect(dos.slice(0, last), 'effects before the failed step').to.deep.equal(
            STEPS.slice(0, last).map((s) => `do:${s}`),
          )
          expect(dos.length - last, 'effects of the failed step').to.be.within(0, 1)
          if (dos.length > last) expect(dos[last]).to.equal(`do:${STEPS[last]}`)
          // Nothing is asked of a step once compensation has begun.
          const firstUndo = ledger.calls.findIndex((c) => c.startsWith('undo:'))
          expect(
            ledger.calls.slice(firstUndo).filter((c) => c.startsWith('do:')),
            'calls after the first undo',
          ).to.deep.equal([])
        },
      })
    })
  }
})
