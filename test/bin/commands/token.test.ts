import { expect } from 'chai'
import jsonwebtoken from 'jsonwebtoken'
import { run } from '../run.js'

const SECRET = 'fh-a-development-secret-of-32-chars!!'

describe('bin/commands/token', () => {
  it('prints a user token the jwt plugin’s secret verifies, with sub, roles and the lifetime asked', async () => {
    const r = await run(['token', '--sub', 'u1', '--roles', 'user-client,user-mover', '--ttl', '30m'], {
      env: { JWT_SECRET: SECRET },
    })
    expect(r.code, r.stderr).to.equal(0)
    const claims = jsonwebtoken.verify(r.stdout.trim(), SECRET, { algorithms: ['HS256'] }) as jsonwebtoken.JwtPayload
    expect(claims).to.deep.include({ sub: 'u1', roles: ['user-client', 'user-mover'] })
    expect(claims.exp! - claims.iat!).to.equal(1800)
  })

  it('takes --secret over $JWT_SECRET and prints JSON with --json', async () => {
    const r = await run(['token', '--sub', 'u2', '--secret', SECRET, '--json'], { env: { JWT_SECRET: 'x'.repeat(40) } })
    const { token } = JSON.parse(r.stdout) as { token: string }
    expect((jsonwebtoken.verify(token, SECRET) as jsonwebtoken.JwtPayload).sub).to.equal('u2')
  })

  it('is a usage error without --sub, without a secret, or with a bad --ttl', async () => {
    for (const [argv, why] of [
      [['token', '--secret', SECRET], /missing --sub/],
      [['token', '--sub', 'u1'], /no secret: give --secret/],
      [['token', '--sub', 'u1', '--secret', SECRET, '--ttl', 'soon'], /--ttl takes a lifetime/],
    ] as const) {
      const r = await run(argv, { env: {} })
      expect(r.code).to.equal(2)
      expect(r.stderr).to.match(why)
    }
  })
})
