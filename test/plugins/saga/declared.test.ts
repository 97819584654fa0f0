import { expect } from 'chai'
import type { Message } from '../../../actions/index.js'
import { createStoa, definePlugin, defineService, StoaError } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
import { quietLogger } from '../../helpers/wait.js'

/** A participant that logs each call with its message id, and refuses a charge when told. */
const payment = (calls: string[]) =>
  definePlugin({
    name: 'payment',
    actions: {
      'role:payment,cmd:charge': (msg: Message, ctx) => {
        calls.push(`charge ${ctx.id}`)
        if (msg.decline === true) throw new StoaError('INVALID_MESSAGE', 'card declined')
        return { charged: msg.orderId }
      },
      'role:payment,cmd:refund': (_msg: Message, ctx) => {
        calls.push(`refund ${ctx.id}`)
        return { refunded: true }
      },
      'role:stock,cmd:reserve': (_msg: Message, ctx) => {
        calls.push(`reserve ${ctx.id}`)
        return { reservation: 'r1' }
      },
      'role:stock,cmd:release': (msg: Message, ctx) => {
        calls.push(`release ${ctx.id} ${String(msg.reservation)}`)
        return { released: true }
      },
    },
  })

/** The checkout saga as a plugin declares it: reserve, then charge, each with its undo. */
const placeSaga = {
  id: (msg: Message) => `order:${String(msg.orderId)}`,
  version: 1,
  acts: ['role:stock,cmd:reserve', 'role:stock,cmd:release', 'role:payment,cmd:charge', 'role:payment,cmd:refund'],
  async run(msg: Message, saga: import('../../../actions/index.js').Saga) {
    const r = await saga.act<{ reservation: string }>(
      'reserve',
      { role: 'stock', cmd: 'reserve', orderId: msg.orderId },
      { undo: (got) => ({ role: 'stock', cmd: 'release', reservation: got?.reservation }) },
    )
    await saga.act(
      'charge',
      { role: 'payment', cmd: 'charge', orderId: msg.orderId, decline: msg.decline === true },
      { undo: () => ({ role: 'payment', cmd: 'refund', orderId: msg.orderId }) },
    )
    return { orderId: msg.orderId, reservation: r.reservation }
  },
}

const objectForm = definePlugin({ name: 'checkout', sagas: { 'role:checkout,cmd:place': placeSaga } })
const setupForm = definePlugin({
  name: 'checkout',
  setup: () => ({ sagas: { 'role:checkout,cmd:place': placeSaga } }),
})

for (const [form, checkout] of [
  ['object', objectForm],
  ['setup', setupForm],
] as const) {
  describe(`sagas declared by a plugin (${form} form), in a service module`, () => {
    const calls: string[] = []
    const service = defineService({ name: 'checkout', plugins: [[sagas, { engine: createMemoryEngine() }], checkout] })

    const place = async (extra: Message) => {
      const stoa = service.create({ logger: quietLogger() }).use(payment(calls))
      await stoa.ready()
      try {
        const { id } = (await stoa.act({ role: 'checkout', cmd: 'place', ...extra })) as { id: string }
        const st = await stoa.handleOf(sagas).settled(id)
        return { id, st: st! }
      } finally {
        await stoa.close()
      }
    }

    it('starts the saga from its trigger and runs its steps with the keys <saga id>/<step>', async () => {
      calls.length = 0
      const { id, st } = await place({ orderId: 7 })
      expect(id).to.equal('order:7')
      expect(st.state).to.equal('completed')
      expect(st.result).to.deep.equal({ orderId: 7, reservation: 'r1' })
      expect(calls).to.deep.equal(['reserve order:7/reserve', 'charge order:7/charge'])
    })

    it('compensates a failed step: the undos of the attempted steps, in reverse order', async () => {
      calls.length = 0
      const { st } = await place({ orderId: 8, decline: true })
      expect(st.state).to.equal('compensated')
      expect(st.error?.code).to.equal('INVALID_MESSAGE')
      expect(st.steps.map((s) => `${s.step}:${s.state}`)).to.deep.equal([
        'reserve:done',
        'charge:failed',
        'undo:charge:done',
        'undo:reserve:done',
      ])
      expect(calls).to.deep.equal([
        'reserve order:8/reserve',
        'charge order:8/charge',
        'refund order:8/undo:charge',
        'release order:8/undo:reserve r1',
      ])
    })

    it('warns at start about a pattern in its acts that nothing answers', async () => {
      const logger = quietLogger()
      const stoa = service.create({ logger })
      await stoa.ready()
      await stoa.close()
      const steps = logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('saga '))
      expect(steps.map((e) => e.fields.pattern)).to.deep.equal([
        'cmd:reserve,role:stock',
        'cmd:release,role:stock',
        'cmd:charge,role:payment',
        'cmd:refund,role:payment',
      ])
    })
  })
}

describe('sagas declared by a plugin: definitions', () => {
  it('takes the sagas from a function of the options', async () => {
    const plugin = definePlugin({
      name: 'tagged',
      sagas: (_options, info) => ({ [`role:${info.name},cmd:go`]: placeSaga }),
    })
    const stoa = createStoa({ name: 'x', logger: quietLogger() }).use(plugin)
    expect(stoa.has('role:tagged,cmd:go')).to.equal(true)
  })

  it('refuses sagas beside setup, sagas that are not a map, and a saga defined twice', () => {
    expect(() => definePlugin({ name: 'both', setup: () => ({}), sagas: { 'role:a,cmd:b': placeSaga } } as never))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    const list = definePlugin({ name: 'list', setup: () => ({ sagas: [placeSaga] as never }) })
    expect(() => createStoa({ name: 'x' }).use(list))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
    const stoa = createStoa({ name: 'x' }).saga('role:checkout,cmd:place', placeSaga)
    expect(() => stoa.use(objectForm))
      .to.throw(StoaError)
      .with.property('code', 'INVALID_PLUGIN')
  })
})
