import { createStoa } from '../../../actions/index.js'
import authz from '../../../plugins/authz/index.js'
import jwt from '../../../plugins/jwt/index.js'

/*
 * Compile-time checks of the jwt and authz options, run by `tsc --noEmit` (the lines marked
 * @ts-expect-error must fail to compile) and, harmlessly, by mocha.
 */
describe('jwt and authz option types', () => {
  it('requires the role map of authz, and refuses malformed jwt options, at compile time', () => {
    if (Math.random() > 2) {
      const stoa = createStoa().use(jwt, {
        secret: 's'.repeat(32),
        audience: 'moves',
        delegation: { secret: 'd'.repeat(32), ttlMs: 3600_000 },
      })
      stoa.use(authz, { roles: { 'user-mover': ['move:read'] } })
      // @ts-expect-error authz needs its role map
      stoa.use(authz)
      // @ts-expect-error roles map to lists of permissions
      stoa.use(authz, { roles: { 'user-mover': 'move:read' } })
      // @ts-expect-error algorithms come from the allow-list: never none
      createStoa().use(jwt, { secret: 's'.repeat(32), algorithms: ['none'] })
      // @ts-expect-error unknown options are refused
      createStoa().use(jwt, { secert: 's'.repeat(32) })
    }
  })
})
