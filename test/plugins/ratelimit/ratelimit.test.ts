import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import ratelimit from '../../../plugins/ratelimit/index.js'
import { quietLogger } from '../../helpers/wait.js'

describe('ratelimit plugin', () => {
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as StoaError,
    )

  it('refuses calls past the budget with RATE_LIMITED and when to come back, per identity', async () => {
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 2, durationSec: 60 } } })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      .add('role:vote,cmd:other', () => ({ ok: true }))
    await stoa.ready()
    const cast = (token: string) => stoa.act('role:vote,cmd:cast', {}, { token })
    expect(await cast('alice')).to.deep.equal({ ok: true })
    expect(await cast('alice')).to.deep.equal({ ok: true })
    const refused = await failure(cast('alice'))
    expect(refused).to.be.instanceOf(StoaError)
    expect(refused!.code).to.equal('RATE_LIMITED')
    expect(refused!.details!.retryAfterMs).to.be.a('number').within(1, 60_000)
    // Another identity has its own budget, and an action not named is not limited.
    expect(await cast('bob')).to.deep.equal({ ok: true })
    for (let i = 0; i < 5; i++) await stoa.act('role:vote,cmd:other', {}, { token: 'alice' })
    await stoa.close()
  })

  it('counts per client address and per route as asked', async () => {
    const stoa = createStoa({ name: 'auth', logger: quietLogger() })
      .use(ratelimit, {
        limits: {
          'role:auth,cmd:login': { points: 1, durationSec: 60, by: 'address' },
          'role:auth,cmd:reset': { points: 1, durationSec: 60, by: 'route' },
        },
      })
      .add('role:auth,cmd:login', () => 'in')
      .add('role:auth,cmd:reset', () => 'reset')
    await stoa.ready()
    const from = (ip: string) => ({ headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` } })
    expect(await stoa.act('role:auth,cmd:login', {}, from('1.1.1.1'))).to.equal('in')
    expect((await failure(stoa.act('role:auth,cmd:login', {}, { ...from('1.1.1.1'), token: 'other' })))!.code).to.equal(
      'RATE_LIMITED',
    )
    expect(await stoa.act('role:auth,cmd:login', {}, from('2.2.2.2'))).to.equal('in')
    expect(await stoa.act('role:auth,cmd:reset', {}, { token: 'a' })).to.equal('reset')
    expect((await failure(stoa.act('role:auth,cmd:reset', {}, { token: 'b' })))!.code).to.equal('RATE_LIMITED')
    await stoa.close()
  })
})

describe('ratelimit plugin over a web route', () => {
  it('answers 429 RATE_LIMITED with Retry-After', async () => {
    const { default: web, serveWeb } = await import('../../../plugins/web/index.js')
    const stoa = createStoa({ name: 'vote', logger: quietLogger() })
      .use(ratelimit, { limits: { 'role:vote,cmd:cast': { points: 1, durationSec: 30 } } })
      .add('role:vote,cmd:cast', () => ({ ok: true }))
      .use(web, { routes: { 'POST /votes': 'role:vote,cmd:cast' } })
    await stoa.ready()
    const server = await serveWeb(stoa)
    try {
      const post = () => fetch(`${server.url}/votes`, { method: 'POST', headers: { authorization: 'Bearer t1' } })
      expect((await post()).status).to.equal(200)
      const res = await post()
      expect(res.status).to.equal(429)
      expect(Number(res.headers.get('retry-after'))).to.be.within(1, 30)
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('RATE_LIMITED')
    } finally {
      await server.close()
      await stoa.close()
    }
  })
})
