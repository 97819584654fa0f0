// Compiled by `tsc --noEmit`: every `@ts-expect-error` line must fail to compile.
import { createClient } from '../../actions/index.js'
import type mathService from '../../examples/math/service.js'
import type { voteGateway } from '../../examples/vote/gateway.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_: T) => undefined

export async function inferredClients() {
  const transport = createMemoryTransport({ bus: createMemoryBus() })
  // From the service module's type alone: the message checked, the result inferred.
  const math = await createClient<typeof mathService>(transport, ['role:math']).ready()
  const sum = await math.act('role:math,cmd:sum', { left: 1, right: 2 })
  assertType<Equal<typeof sum, { answer: number }>>(true)
  // @ts-expect-error left must be a number
  await math.act('role:math,cmd:sum', { left: '1', right: 2 })
  // @ts-expect-error right is missing
  await math.act('role:math,cmd:product', { left: 1 })

  // A plugin's type serves as well: the gateway's plugin list is built with a spread, which
  // widens its items to any plugin, so its service type knows only the web plugin's action.
  const votes = createClient<typeof voteGateway>(transport, ['role:vote'])
  const cast = await votes.act('role:vote,cmd:cast', { choice: 'cats' }, { token: 't' })
  assertType<Equal<typeof cast, { voteId: string; acceptedAt: number }>>(true)
  // @ts-expect-error the choice is cats or dogs
  await votes.act('role:vote,cmd:cast', { choice: 'birds' })
}
