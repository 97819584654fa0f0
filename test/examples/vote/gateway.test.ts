import { expect } from 'chai'
import type { Stoa } from 'stoa'
import { createStoa, StoaError } from 'stoa'
import { signToken } from 'stoa/jwt'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { gatewayService } from '../../../examples/vote/services/gateway.js'
import { waitFor } from '../../helpers/wait.js'

const SECRET = 'vote-test-secret-of-forty-characters-01'

describe('examples/vote gateway: role:vote,cmd:cast', () => {
  let gateway: Stoa<any>
  let tally: Stoa<any>
  const tasks: Record<string, unknown>[] = []

  before(async () => {
    const bus = createMemoryBus()
    tally = createStoa({ name: 'tally' }).add('task:tally.vote.record', (msg) => void tasks.push(msg))
    tally.listen(createMemoryTransport({ bus }))
    gateway = gatewayService(SECRET).create()
    gateway.client(createMemoryTransport({ bus }))
    await Promise.all([tally.ready(), gateway.ready()])
  })
  after(async () => {
    await gateway?.close()
    await tally?.close()
  })

  const token = (claims: { sub: string; roles: string[] }, secret = SECRET) =>
    signToken(claims, { secret, expiresInSec: 60 })
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => (err instanceof StoaError ? err.code : String(err)),
    )

  it("sends the verified voter's vote with an id and the time it was accepted, and answers them", async () => {
    const before = Date.now()
    const out = (await gateway.act(
      'role:vote,cmd:cast',
      { choice: 'cats' },
      { token: token({ sub: 'ada', roles: ['voter'] }) },
    )) as {
      voteId: string
      acceptedAt: number
    }
    expect(out.voteId).to.match(/^[0-9a-f-]{36}$/)
    expect(out.acceptedAt).to.be.within(before, Date.now())
    await waitFor(() => tasks.length === 1, 'the task')
    expect(tasks[0]).to.include({ voteId: out.voteId, voter: 'ada', choice: 'cats', acceptedAt: out.acceptedAt })
  })

  it('refuses no token, a token signed with another secret, and a token without the voter role', async () => {
    expect(await refusal(gateway.act('role:vote,cmd:cast', { choice: 'cats' }))).to.equal('UNAUTHENTICATED')
    const forged = token({ sub: 'eve', roles: ['voter'] }, 'another-secret-of-forty-characters-0123')
    expect(await refusal(gateway.act('role:vote,cmd:cast', { choice: 'cats' }, { token: forged }))).to.equal(
      'UNAUTHENTICATED',
    )
    expect(
      await refusal(
        gateway.act('role:vote,cmd:cast', { choice: 'cats' }, { token: token({ sub: 'bo', roles: ['admin'] }) }),
      ),
    ).to.equal('FORBIDDEN')
  })

  it('refuses a choice that is neither cats nor dogs with INVALID_MESSAGE', async () => {
    expect(
      await refusal(
        gateway.act('role:vote,cmd:cast', { choice: 'fish' }, { token: token({ sub: 'ada', roles: ['voter'] }) }),
      ),
    ).to.equal('INVALID_MESSAGE')
  })
})
