import { toJsonSchema as valibotToJsonSchema } from '@valibot/to-json-schema'
import { type } from 'arktype'
import { expect } from 'chai'
import * as v from 'valibot'
import { z } from 'zod'
import { action, createStoa } from '../../../actions/index.js'
import { describeContract, toJsonSchema } from '../../../plugins/contracts/index.js'
import { quietLogger } from '../../helpers/wait.js'

const expected = {
  type: 'object',
  properties: { left: { type: 'number' }, note: { type: 'string' } },
  required: ['left'],
}

describe('plugins/contracts: JSON Schema from each validator', () => {
  it('exports zod 4 through the Standard JSON Schema interface', async () => {
    const out = await toJsonSchema(z.object({ left: z.number(), note: z.string().optional() }))
    expect(out).to.have.property('schema')
    expect((out as { schema: object }).schema).to.deep.include(expected)
  })

  it('exports arktype through the same interface', async () => {
    const out = await toJsonSchema(type({ left: 'number', 'note?': 'string' }))
    expect((out as { schema: object }).schema).to.deep.include(expected)
  })

  it('exports valibot through its own converter, as the converter says', async () => {
    const schema = v.object({ left: v.number(), note: v.optional(v.string()) })
    const out = await toJsonSchema(schema)
    const { $schema: _, ...own } = valibotToJsonSchema(schema) as Record<string, unknown>
    expect((out as { schema: object }).schema).to.deep.equal(own)
    expect((out as { schema: object }).schema).to.deep.include(expected)
  })

  it('gives a warning, not a schema, for what the library cannot export; the action stays listed', async () => {
    const odd = z.object({ when: z.date() })
    expect(await toJsonSchema(odd))
      .to.have.property('warning')
      .that.matches(/zod/)
    const stoa = createStoa({ name: 'odd', logger: quietLogger() }).add(
      'role:odd,cmd:x',
      action({ schema: odd, handler: () => 1 }),
    )
    await stoa.ready()
    const contract = await describeContract(stoa)
    await stoa.close()
    expect(contract.actions.map((a) => [a.pattern, a.message])).to.deep.equal([['cmd:x,role:odd', null]])
    expect(contract.warnings).to.have.length(1)
    expect(contract.warnings[0]).to.match(/^action "cmd:x,role:odd" message: /)
  })
})
