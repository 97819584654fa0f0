import { expect } from 'chai'
import type { Identity } from '../../actions/index.js'
import { createStoa, type StoaError } from '../../actions/index.js'
import { auth } from '../../examples/auth/auth.js'
import { checkPassword, hashPassword } from '../../examples/auth/passwords.js'
import authz from '../../plugins/authz/index.js'
import jwt from '../../plugins/jwt/index.js'
import { SECRET } from '../helpers/jwt.js'
import { waitFor } from '../helpers/wait.js'

describe('examples/auth: login with scrypt hashes', function () {
  this.timeout(10_000)

  it('hashes with scrypt and a salt, and checks in constant time', async () => {
    const stored = await hashPassword('hunter2')
    expect(stored).to.match(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/)
    expect(await hashPassword('hunter2')).not.to.equal(stored)
    expect(await checkPassword('hunter2', stored)).to.equal(true)
    expect(await checkPassword('hunter3', stored)).to.equal(false)
    expect(await checkPassword('hunter2', 'md5$abc')).to.equal(false)
  })

  it('signs a token with the user roles, which the jwt plugin verifies, and emits user.authed as the user', async () => {
    const authed: { msg: unknown; identity: Identity | undefined }[] = []
    const stoa = createStoa({ name: 'auth' })
      .use(jwt, { secret: SECRET, audience: 'gateway' })
      .use(authz, { roles: { 'user-mover': ['auth:whoami'] } })
      .use(auth, { secret: SECRET, users: { ada: { hash: await hashPassword('pw'), roles: ['user-mover'] } } })
      .on('user.authed', (msg, ctx) => void authed.push({ msg, identity: ctx.identity }))
    const out = (await stoa.act('role:auth,cmd:login', { username: 'ada', password: 'pw' })) as {
      token: string
      roles: string[]
    }
    expect(out.roles).to.deep.equal(['user-mover'])
    expect(await stoa.act('role:auth,cmd:whoami', {}, { token: out.token })).to.deep.equal({
      sub: 'ada',
      roles: ['user-mover'],
    })
    await waitFor(() => authed.length === 1, 'user.authed')
    expect(authed[0]!.msg).to.deep.include({ sub: 'ada', roles: ['user-mover'] })
    expect(authed[0]!.identity!.sub).to.equal('ada')
    for (const [username, password] of [
      ['ada', 'wrong'],
      ['nobody', 'pw'],
    ] as const) {
      const err = (await stoa.act('role:auth,cmd:login', { username, password }).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('UNAUTHENTICATED')
      expect(err.message).to.equal('wrong username or password')
    }
    await stoa.close()
  })
})
