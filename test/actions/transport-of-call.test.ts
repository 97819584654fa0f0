import { expect } from 'chai'
import { createStoa } from '../../actions/index.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { quietLogger } from '../helpers/wait.js'

describe('ctx.transport', () => {
  it('names the transport a call arrived through, and is undefined in process and for nested calls', async () => {
    const bus = createMemoryBus()
    const seen: (string | undefined)[] = []
    const server = createStoa({ name: 'math', logger: quietLogger() })
      .add('role:math,cmd:inner', (_m, ctx) => {
        seen.push(ctx.transport)
      })
      .add('role:math,cmd:outer', async (_m, ctx) => {
        seen.push(ctx.transport)
        await ctx.act('role:math,cmd:inner')
      })
      .listen(createMemoryTransport({ bus }))
    const client = createStoa({ name: 'gw', logger: quietLogger() }).client(createMemoryTransport({ bus }), [
      'role:math',
    ])
    await server.ready()
    await client.ready()
    await client.act('role:math,cmd:outer')
    await server.act('role:math,cmd:outer')
    expect(seen).to.deep.equal(['memory', undefined, undefined, undefined])
    await client.close()
    await server.close()
  })
})
