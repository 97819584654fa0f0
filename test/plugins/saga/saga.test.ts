import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
import { createMemoryBus, createMemoryTransport } from '../../../transports/memory/index.js'
import { quietLogger } from '../../helpers/wait.js'
import { sagaBehaviour } from './behaviour.js'

// One engine object stands for the store: a second instance given it finds what the first left.
const memory = createMemoryEngine()
sagaBehaviour({ name: 'memory', make: () => memory })

describe('sagas: definitions and the memory engine', () => {
  it('says at start that the in-memory engine is not durable', async () => {
    const logger = quietLogger()
    const stoa = createStoa({ name: 'plain', logger }).use(sagas)
    await stoa.ready()
    await stoa.close()
    expect(logger.entries.some((e) => e.level === 'warn' && /NOT durable/.test(e.message))).to.equal(true)
  })

  it('refuses a definition without id, run or a whole version', () => {
    const stoa = createStoa({ name: 'bad' })
    for (const def of [
      { version: 1, run: async () => 1 },
      { id: () => 'x', version: 0, run: async () => 1 },
      { id: () => 'x', version: 1.5, run: async () => 1 },
    ])
      expect(() => stoa.saga('role:x,cmd:y', def as never))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_PLUGIN')
  })

  it('warns at start about a declared step pattern that no action and no client answers', async () => {
    const bus = createMemoryBus()
    const payment = createStoa({ name: 'payment' })
      .add('role:payment,cmd:charge', () => ({ charged: true }))
      .listen(createMemoryTransport({ bus }))
    const logger = quietLogger()
    const checkout = createStoa({ name: 'checkout', logger })
      .use(sagas)
      .add('role:stock,cmd:reserve', () => ({ reserved: true }))
      .client(createMemoryTransport({ bus }), ['role:payment'])
      .saga('role:checkout,cmd:place', {
        id: () => 'one',
        version: 1,
        acts: ['role:stock,cmd:reserve', 'role:payment,cmd:charge', 'role:shipping,cmd:ship'],
        run: async () => 1,
      })
    try {
      await payment.ready()
      await checkout.ready()
      await checkout.ready()
      const steps = logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('saga '))
      // Once, for the one pattern neither the service (reserve) nor its client (charge) answers.
      expect(steps.map((e) => e.message)).to.deep.equal([
        'saga "cmd:place,role:checkout" has a step acting on "cmd:ship,role:shipping", which no action of "checkout" and no client answers: the step would fail NOT_FOUND',
      ])
    } finally {
      await checkout.close()
      await payment.close()
    }
  })

  it('refuses declared step patterns that are not a list of patterns', () => {
    const stoa = createStoa({ name: 'bad' })
    for (const acts of ['role:x,cmd:y', [1], ['role:x,cmd:{']])
      expect(() => stoa.saga('role:x,cmd:y', { id: () => 'x', version: 1, acts: acts as never, run: async () => 1 }))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_PLUGIN')
  })

  it('answers UNAVAILABLE when no saga plugin serves the sagas', async () => {
    const stoa = createStoa({ name: 'nosaga' }).saga('role:x,cmd:y', { id: () => 'x', version: 1, run: async () => 1 })
    const err = await stoa.act('role:x,cmd:y').catch((e: unknown) => e)
    expect(err).to.be.instanceOf(StoaError).with.property('code', 'UNAVAILABLE')
    await stoa.close()
  })

  it('fails a saga whose step names repeat, and undoes its steps', async () => {
    const stoa = createStoa({ name: 'twice', logger: quietLogger() })
      .use(sagas, { engine: createMemoryEngine() })
      .add('role:p,cmd:do', () => ({ ok: true }))
      .add('role:p,cmd:undo', () => ({ ok: true }))
      .saga('role:x,cmd:y', {
        id: () => 'twice',
        version: 1,
        async run(_msg, saga) {
          const undo = () => ({ role: 'p', cmd: 'undo' })
          await saga.act('a', { role: 'p', cmd: 'do' }, { undo })
          await saga.act('a', { role: 'p', cmd: 'do' }, { undo })
        },
      })
    await stoa.ready()
    await stoa.act('role:x,cmd:y')
    const st = await stoa.handleOf(sagas).settled('twice')
    expect(st?.state).to.equal('compensated')
    expect(st?.error?.code).to.equal('INVALID_OPTIONS')
    await stoa.close()
  })
})

describe('sagas on the memory engine: SIGKILL of the worker', () => {
  before(function () {
    console.log(
      '      skipped: the in-memory engine is not durable, a killed process loses its sagas (crash.e2e.test.ts runs them on DBOS)',
    )
    this.skip()
  })
  it('resumes after each kill and finishes, every effect once', () => {})
})
