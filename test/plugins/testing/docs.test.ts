import { readFileSync } from 'node:fs'
// docs:imports
import { expect } from 'chai'
import fc from 'fast-check'
import { createStoa, definePlugin, StoaError } from '../../../actions/index.js'
import type { HarnessServiceOptions } from '../../../plugins/testing/index.js'
import { createHarness, ExploreFailure, expectCode, explore } from '../../../plugins/testing/index.js'

// docs:end

/*
 * The walk-through of docs/testing.md, run: every ```ts block of the page is a region of this
 * file (with the imports as an application writes them), so the page cannot drift from code
 * that works.
 */

// docs:plugin
/** Charges an order through the payments service, then tells whoever listens. */
const billing = definePlugin({
  name: 'billing',
  actions: {
    'task:billing.order.charge': async (msg, ctx) => {
      if (typeof msg.amount !== 'number' || msg.amount <= 0)
        throw new StoaError('INVALID_MESSAGE', 'amount must be a positive number')
      // The order id is the idempotency key: a second charge for it is the first one.
      await ctx.act('role:payments,cmd:charge', { key: msg.orderId, amount: msg.amount })
      await ctx.emit('order.charged', { orderId: msg.orderId })
    },
  },
})
// docs:end

// docs:stub
/** A payments service that keeps one charge per key (or, with `keyed: false`, charges every call). */
function payments(keyed = true) {
  const charges: { key: string; amount: number }[] = []
  const handler = (msg: Record<string, unknown>) => {
    const key = String(msg.key)
    if (keyed && charges.some((c) => c.key === key)) return { charged: false }
    charges.push({ key, amount: Number(msg.amount) })
    return { charged: true }
  }
  return { charges, actions: { 'role:payments,cmd:charge': handler } }
}

const service = (o: HarnessServiceOptions) => createStoa({ name: 'billing', ...o }).use(billing)
// docs:end

describe('docs/testing.md, run', function () {
  this.timeout(60_000)

  it('first test: call, assert on results and codes, capture events', async () => {
    // docs:first
    const h = createHarness()
    const pay = payments()
    await h.stub('payments', pay.actions)
    await h.start(service, { calls: ['role:payments'] })

    await h.send('billing.order.charge', { orderId: 'o1', amount: 30 })
    await h.send('billing.order.charge', { orderId: 'o2', amount: -1 })
    await h.settle()

    expect(pay.charges).to.deep.equal([{ key: 'o1', amount: 30 }])
    expect(h.emitted('order.charged').map((e) => e.data)).to.deep.equal([{ orderId: 'o1' }])
    // A poison message is dead-lettered at once, with its error, never retried.
    expect(h.deadLetters.map((d) => [d.data.orderId, d.error.code, d.attempts])).to.deep.equal([
      ['o2', 'INVALID_MESSAGE', 1],
    ])
    await expectCode(h.act('role:payments,cmd:refund'), 'NOT_FOUND')
    await h.close()
    // docs:end
  })

  it('time: ten minutes of retries, run at once', async () => {
    // docs:time
    const h = createHarness({ policy: { attempts: 4, backoffMs: 60_000, maxBackoffMs: 600_000 } })
    let calls = 0
    await h.stub('payments', {
      'role:payments,cmd:charge': () => {
        if (++calls < 4) throw new StoaError('UNAVAILABLE', 'the bank is down')
        return { charged: true }
      },
    })
    await h.start(service, { calls: ['role:payments'] })
    await h.send('billing.order.charge', { orderId: 'o1', amount: 30 })

    const elapsed = await h.settle()
    expect(calls).to.equal(4)
    expect(elapsed).to.equal(7 * 60_000) // 1 + 2 + 4 minutes of backoff
    await h.close()
    // docs:end
  })

  it('a fault by rule: a crash before the acknowledgement', async () => {
    // docs:crash
    const h = createHarness({ faults: [{ fault: 'crash', name: 'billing.order.charge', times: 1 }] })
    const pay = payments()
    await h.stub('payments', pay.actions)
    await h.start(service, { calls: ['role:payments'] })
    await h.send('billing.order.charge', { orderId: 'o1', amount: 30 })
    await h.settle()

    // The task ran twice (the restarted instance got it again), the customer paid once.
    expect(h.service('billing').starts).to.equal(2)
    expect(pay.charges).to.have.length(1)
    await h.close()
    // docs:end
  })

  it('an invariant, explored', async () => {
    // docs:explore
    const orders = fc.uniqueArray(fc.constantFrom('o1', 'o2', 'o3', 'o4'), { minLength: 1, maxLength: 4 })

    const chargedOnce = (keyed: boolean) => {
      let pay = payments(keyed)
      return explore({
        input: orders,
        // A lost confirm makes `send` reject: this sender does not retry (the vote test's does).
        faults: ['drop', 'duplicate', 'delay', 'reorder', 'crash'],
        runs: 50,
        run: async (h, ids) => {
          pay = payments(keyed)
          await h.stub('payments', pay.actions)
          await h.start(service, { calls: ['role:payments'], instances: 2 })
          for (const orderId of ids) await h.send('billing.order.charge', { orderId, amount: 10 })
        },
        check: (_h, ids) => {
          expect(pay.charges.map((c) => c.key).sort()).to.deep.equal([...ids].sort())
        },
      })
    }

    await chargedOnce(true) // holds

    const failure = await chargedOnce(false).catch((err: unknown) => err)
    expect(failure).to.be.instanceOf(ExploreFailure)
    // docs:end
    const f = failure as ExploreFailure
    expect(f.message).to.match(/replay: explore\(\{ \.\.\., seed: -?\d+, path: '[\d:]+' \}\)/)
    const faults = f.schedule.filter((k) => k !== 'none')
    expect(faults).to.have.length(1)
    expect(['crash', 'duplicate']).to.include(faults[0])
    expect(f.input).to.have.length(1)
  })
})

describe('docs/testing.md', () => {
  const page = readFileSync(new URL('../../../docs/testing.md', import.meta.url), 'utf8')
  const here = readFileSync(new URL(import.meta.url), 'utf8')

  /** This file's region `name`, without the marker lines and with the imports an application writes. */
  const region = (name: string): string => {
    const m = new RegExp(`// docs:${name}\\n([\\s\\S]*?)\\n\\s*// docs:end`).exec(here)
    if (m === null) throw new Error(`no region ${name}`)
    const lines = m[1]!.split('\n')
    const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length))
    return lines
      .map((l) => l.slice(indent))
      .join('\n')
      .replaceAll("'../../../plugins/testing/index.js'", "'stoa/testing'")
      .replaceAll("'../../../actions/index.js'", "'stoa'")
  }

  it('shows, block by block, the code this file runs', () => {
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]!)
    const names = ['imports', 'plugin', 'stub', 'first', 'time', 'crash', 'explore']
    expect(blocks).to.deep.equal(names.map(region))
  })
})
