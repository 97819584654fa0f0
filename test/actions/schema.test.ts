import { type } from 'arktype'
import { expect } from 'chai'
import * as v from 'valibot'
import { z } from 'zod'
import type { Schema } from '../../actions/index.js'
import { action, createStoa, StoaError } from '../../actions/index.js'

/** What a caller and the logs are told about a message a schema refuses. */
async function refusal(schema: Schema): Promise<StoaError> {
  const stoa = createStoa().add('role:user,cmd:save', action({ schema, handler: () => 1 }))
  const err = await stoa
    .act('role:user,cmd:save', { pin: 'hunter2', kind: 'secretkind', age: 12345 })
    .catch((e: unknown) => e)
  expect(err).to.be.instanceOf(StoaError).with.property('code', 'INVALID_MESSAGE')
  return err as StoaError
}

describe('schema errors name the fields, never the data', () => {
  it('valibot and arktype messages lose the value they quote; what was expected stays', async () => {
    const schemas = {
      valibot: v.object({
        pin: v.number(),
        kind: v.picklist(['admin', 'user']),
        age: v.pipe(v.number(), v.maxValue(150)),
      }),
      arktype: type({ pin: 'number', kind: "'admin'|'user'", age: 'number<=150' }),
      zod: z.object({ pin: z.number(), kind: z.enum(['admin', 'user']), age: z.number().max(150) }),
    }
    for (const [library, schema] of Object.entries(schemas)) {
      const err = await refusal(schema)
      const said = JSON.stringify(err.toJSON())
      for (const data of ['hunter2', 'secretkind', '12345']) expect(said, `${library}: ${said}`).not.to.include(data)
      expect(err.message, library).to.include('150')
      expect(err.message, library).to.match(/admin/)
      expect([...((err.details?.fields as string[]) ?? [])].sort(), library).to.deep.equal(['age', 'kind', 'pin'])
    }
  })
})
