import { expect } from 'chai'
import { createClient, StoaError } from '../../actions/index.js'
import mathService from '../../examples/math/service.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { quietLogger } from '../helpers/wait.js'

describe('actions/client: createClient', () => {
  it('acts on a service through a transport, typed from the service', async () => {
    const bus = createMemoryBus()
    const math = mathService.create({ logger: quietLogger() })
    math.listen(createMemoryTransport({ bus }))
    await math.ready()
    const client = await createClient<typeof mathService>(createMemoryTransport({ bus }), ['role:math'], {
      logger: quietLogger(),
    }).ready()
    try {
      const out = await client.act('role:math,cmd:sum', { left: 1, right: 2 })
      expect(out.answer).to.equal(3)
      const err = await client.act('role:math,cmd:sum', { left: 1 } as never).catch((e: unknown) => e)
      expect(err).to.be.instanceOf(StoaError)
      expect((err as StoaError).code).to.equal('INVALID_MESSAGE')
    } finally {
      await client.close()
      await math.close()
    }
  })
})
