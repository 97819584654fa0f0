import { expect } from 'chai'
import { z } from 'zod'
import { action, createStoa, StoaError } from '../../actions/index.js'
import { quietLogger } from '../helpers/wait.js'

const sum = action({
  schema: z.object({ left: z.number(), right: z.number() }),
  result: z.object({ answer: z.number() }),
  // The bug the check exists for: a string where the contract says a number.
  handler: (msg) => ({ answer: (msg.left === 13 ? 'thirteen' : msg.left + msg.right) as number }),
})

const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('resolved'),
    (e: unknown) => {
      if (!(e instanceof StoaError)) throw e
      return e
    },
  )

describe('actions/action: result schemas', () => {
  it('passes a result its schema accepts, as the action returned it', async () => {
    const stoa = createStoa({ logger: quietLogger(), checkResults: true }).add('role:math,cmd:sum', sum)
    expect(await stoa.act('role:math,cmd:sum', { left: 1, right: 2 })).to.deep.equal({ answer: 3 })
  })

  it('fails INVALID_RESULT naming the field when checks are on', async () => {
    const stoa = createStoa({ logger: quietLogger(), checkResults: true }).add('role:math,cmd:sum', sum)
    const err = await failure(stoa.act('role:math,cmd:sum', { left: 13, right: 2 }))
    expect(err.code).to.equal('INVALID_RESULT')
    expect(err.details).to.deep.include({ pattern: 'cmd:sum,role:math', fields: ['answer'] })
    expect(err.message).to.match(/answer/)
  })

  it('checks the resolved value of an async action', async () => {
    const stoa = createStoa({ logger: quietLogger(), checkResults: true }).add(
      'role:a,cmd:b',
      action({ result: z.object({ n: z.number() }), handler: async () => ({ n: 'x' }) as unknown as { n: number } }),
    )
    expect((await failure(stoa.act('role:a,cmd:b'))).details?.fields).to.deep.equal(['n'])
  })

  it('does not check when checkResults is false: the result goes out as it is', async () => {
    const stoa = createStoa({ logger: quietLogger(), checkResults: false }).add('role:math,cmd:sum', sum)
    expect(await stoa.act('role:math,cmd:sum', { left: 13, right: 2 })).to.deep.equal({ answer: 'thirteen' })
  })

  it('checks by default outside production, and not under NODE_ENV=production', async () => {
    const saved = process.env.NODE_ENV
    try {
      delete process.env.NODE_ENV
      const dev = createStoa({ logger: quietLogger() }).add('role:math,cmd:sum', sum)
      expect((await failure(dev.act('role:math,cmd:sum', { left: 13, right: 2 }))).code).to.equal('INVALID_RESULT')
      process.env.NODE_ENV = 'production'
      const prod = createStoa({ logger: quietLogger() }).add('role:math,cmd:sum', sum)
      expect(await prod.act('role:math,cmd:sum', { left: 13, right: 2 })).to.deep.equal({ answer: 'thirteen' })
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV
      else process.env.NODE_ENV = saved
    }
  })

  it('keeps the result schema in the action info, for the contract', () => {
    const stoa = createStoa({ logger: quietLogger() }).add('role:math,cmd:sum', sum)
    expect(stoa.find('role:math,cmd:sum')?.options.result).to.equal(sum.result)
  })
})
