import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import sagas, { createMemoryEngine } from '../../../plugins/saga/index.js'
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
