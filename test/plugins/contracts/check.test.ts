import { expect } from 'chai'
import { z } from 'zod'
import type { ActionOptions, Stoa } from '../../../actions/index.js'
import { action, createStoa, definePlugin } from '../../../actions/index.js'
import { compareContracts, describeContract } from '../../../plugins/contracts/index.js'
import web from '../../../plugins/web/index.js'
import { quietLogger } from '../../helpers/wait.js'

interface Shape {
  message?: z.ZodType
  result?: z.ZodType
  routes?: Record<string, string>
  task?: boolean
  emits?: boolean
  version?: string
  extra?: Partial<ActionOptions>
  pattern?: string
}

const base = {
  message: z.object({ choice: z.enum(['cats', 'dogs']), note: z.string().optional() }),
  result: z.object({ voteId: z.string(), acceptedAt: z.number() }),
}

async function contractOf(shape: Shape = {}) {
  const plugin = definePlugin({
    name: 'vote',
    actions: {
      [shape.pattern ?? 'role:vote,cmd:cast']: action({
        schema: shape.message ?? base.message,
        result: shape.result ?? base.result,
        ...(shape.emits === false ? {} : { emits: { 'vote.cast': z.object({ choice: z.string() }) } }),
        ...shape.extra,
        handler: () => ({ voteId: 'v', acceptedAt: 1 }),
      }),
      ...(shape.task === false
        ? {}
        : { 'task:vote.ballot.check': action({ schema: z.object({ id: z.string() }), handler: () => undefined }) }),
    },
  })
  const stoa: Stoa = createStoa({ name: 'vote', logger: quietLogger(), version: shape.version ?? '1.0.0' })
    .use(plugin)
    .use(web, { routes: shape.routes ?? { 'POST /votes': 'role:vote,cmd:cast' } }) as unknown as Stoa
  await stoa.ready()
  try {
    return await describeContract(stoa)
  } finally {
    await stoa.close()
  }
}

async function failures(shape: Shape): Promise<string[]> {
  const { failures } = compareContracts([await contractOf()], [await contractOf(shape)])
  return failures.map((f) => f.text)
}

describe('plugins/contracts: the breaking-change check', () => {
  it('passes the same code', async () => {
    expect(await failures({})).to.deep.equal([])
  })

  it('passes additions: a new action, route, optional message field, result field', async () => {
    const shape: Shape = {
      message: base.message.extend({ extra: z.number().optional() }),
      result: base.result.extend({ receipt: z.string() }),
      routes: { 'POST /votes': 'role:vote,cmd:cast', 'GET /votes': 'role:vote,cmd:cast' },
    }
    expect(await failures(shape)).to.deep.equal([])
    const { changes } = compareContracts([await contractOf()], [await contractOf(shape)])
    expect(changes.map((c) => c.text)).to.include('route GET /votes is new')
  })

  it('fails on an action renamed (removed)', async () => {
    const out = await failures({ pattern: 'role:vote,cmd:place', routes: { 'POST /votes': 'role:vote,cmd:place' } })
    expect(out).to.include('action "cmd:cast,role:vote" was removed')
    expect(out).to.include('route POST /votes now runs "cmd:place,role:vote" instead of "cmd:cast,role:vote"')
  })

  it('fails on a route removed', async () => {
    expect(await failures({ routes: {} })).to.deep.equal(['route POST /votes was removed'])
  })

  it('fails on a task no longer handled and an event no longer emitted', async () => {
    expect(await failures({ task: false })).to.include.members([
      'action "task:vote.ballot.check" was removed',
      'task "vote.ballot.check" is no longer handled',
    ])
    expect(await failures({ emits: false })).to.deep.equal(['event "vote.cast" is no longer emitted'])
  })

  it('fails on a message field that became required', async () => {
    const out = await failures({ message: z.object({ choice: z.enum(['cats', 'dogs']), note: z.string() }) })
    expect(out).to.deep.equal(['action "cmd:cast,role:vote" message: "note" became required'])
  })

  it('fails on a field removed from the result, or made optional', async () => {
    expect(await failures({ result: z.object({ voteId: z.string() }) })).to.deep.equal([
      'action "cmd:cast,role:vote" result: "acceptedAt" was removed',
    ])
    expect(
      await failures({ result: z.object({ voteId: z.string(), acceptedAt: z.number().optional() }) }),
    ).to.deep.equal(['action "cmd:cast,role:vote" result: "acceptedAt" may now be missing'])
  })

  it('fails on a type narrowed: fewer enum values, a tighter bound, another type', async () => {
    expect(await failures({ message: base.message.extend({ choice: z.enum(['cats']) }) })).to.deep.equal([
      'action "cmd:cast,role:vote" message: "choice" no longer accepts "dogs"',
    ])
    expect(await failures({ message: base.message.extend({ note: z.string().max(10).optional() }) })).to.deep.equal([
      'action "cmd:cast,role:vote" message: "note" maxLength is now 10',
    ])
    expect(await failures({ message: base.message.extend({ note: z.number().optional() }) })).to.deep.equal([
      'action "cmd:cast,role:vote" message: "note" no longer accepts string',
    ])
  })

  it('fails on a permission now required', async () => {
    expect(await failures({ extra: { permission: 'vote:cast' } })).to.deep.equal([
      'action "cmd:cast,role:vote" now requires permission "vote:cast"',
    ])
  })

  it('lets a breaking change pass once the declared version went up a major, not a minor', async () => {
    const saved = [await contractOf()]
    const broken = { routes: {} }
    expect(compareContracts(saved, [await contractOf({ ...broken, version: '2.0.0' })]).failures).to.deep.equal([])
    const minor = compareContracts(saved, [await contractOf({ ...broken, version: '1.1.0' })])
    expect(minor.failures.map((f) => f.text)).to.deep.equal(['route POST /votes was removed'])
    expect(minor.changes.filter((c) => c.kind === 'breaking')).to.have.length(1)
  })
})
