import { expect } from 'chai'
import { createStoa, definePlugin, StoaError } from '../../../actions/index.js'
import { describe as describeList } from '../../../bin/commands/list.js'
import authz from '../../../plugins/authz/index.js'
import jwt, { signSystemToken, signToken } from '../../../plugins/jwt/index.js'
import { SECRET, SYSTEM_SECRET } from '../../helpers/jwt.js'

function token(roles: string[]): string {
  return signToken({ sub: 'u1', roles }, { secret: SECRET, expiresInSec: 60 })
}

const ROLES = { 'user-mover': ['move:read'], 'user-business': ['move:*', 'invoice:read'], system: ['*'] }

describe('authz plugin', () => {
  it('maps global roles to this service permissions: exact, prefix:* and *', async () => {
    const stoa = createStoa()
      .use(jwt, { secret: SECRET, system: { secret: SYSTEM_SECRET } })
      .use(authz, { roles: ROLES })
      .add('role:move,cmd:get', () => 'get', { permission: 'move:read' })
      .add('role:move,cmd:delete', () => 'deleted', { permission: 'move:delete' })
      .add('role:invoice,cmd:pay', () => 'paid', { permission: 'invoice:pay' })
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: StoaError) => e.code,
      )
    expect(await code(stoa.act('role:move,cmd:get', {}, { token: token(['user-mover']) }))).to.equal('ok')
    expect(await code(stoa.act('role:move,cmd:delete', {}, { token: token(['user-mover']) }))).to.equal('FORBIDDEN')
    expect(await code(stoa.act('role:move,cmd:delete', {}, { token: token(['user-business']) }))).to.equal('ok')
    expect(await code(stoa.act('role:invoice,cmd:pay', {}, { token: token(['user-business']) }))).to.equal('FORBIDDEN')
    expect(await code(stoa.act('role:invoice,cmd:pay', {}, { token: token(['user-client', 'user-mover']) }))).to.equal(
      'FORBIDDEN',
    )
    expect(
      await code(
        stoa.act('role:invoice,cmd:pay', {}, { token: signSystemToken({ secret: SYSTEM_SECRET, expiresInSec: 60 }) }),
      ),
    ).to.equal('ok')
    expect(await code(stoa.act('role:invoice,cmd:pay'))).to.equal('UNAUTHENTICATED')
  })

  it('refuses to register an action that declares neither a permission nor public, naming it', () => {
    const open = definePlugin({ name: 'open', actions: { 'role:open,cmd:oops': () => 'anyone' } })
    const base = () => createStoa().use(jwt, { secret: SECRET }).use(authz, { roles: ROLES })
    expect(() => base().use(open)).to.throw(
      StoaError,
      /cmd:oops,role:open.*plugin "open".*neither a permission nor public/,
    )
    expect(() => base().add('role:x', () => 1)).to.throw(StoaError, /"role:x" declares neither/)
    // Actions registered before authz are checked when it is loaded.
    expect(() =>
      createStoa()
        .use(jwt, { secret: SECRET })
        .add('role:y', () => 1)
        .use(authz, { roles: ROLES }),
    ).to.throw(StoaError, /"role:y"/)
  })

  it('refuses to start when a plugin adds an undeclared action in its init', async () => {
    const late = definePlugin({
      name: 'late',
      init: (stoa) => {
        stoa.add('role:late', () => 1)
      },
    })
    const stoa = createStoa().use(jwt, { secret: SECRET }).use(authz, { roles: ROLES }).use(late)
    const err = (await stoa.ready().catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('INVALID_PLUGIN')
    expect(err.message).to.match(/role:late/)
  })

  it('lets public actions run with no token, and with an invalid one (an expired login cookie)', async () => {
    const seen: unknown[] = []
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: ROLES })
      .add('role:auth,cmd:login', { public: true, handler: (_m, ctx) => void seen.push(ctx.identity) })
    await stoa.act('role:auth,cmd:login')
    await stoa.act('role:auth,cmd:login', {}, { token: 'expired.or.garbage' })
    await stoa.act('role:auth,cmd:login', {}, { token: token(['user-mover']) })
    expect(seen.slice(0, 2)).to.deep.equal([undefined, undefined])
    expect((seen[2] as { sub: string }).sub).to.equal('u1')
  })

  it('needs the jwt plugin loaded first', () => {
    expect(() => createStoa().use(authz, { roles: ROLES })).to.throw(StoaError, /needs plugin "jwt"/)
  })

  it('refuses a role map with a malformed permission', () => {
    expect(() =>
      createStoa()
        .use(jwt, { secret: SECRET })
        .use(authz, { roles: { r: ['move read'] } }),
    ).to.throw(StoaError, /INVALID_OPTIONS|option/)
  })

  it('shows what each action requires in stoa list', () => {
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: ROLES })
      .add('role:move,cmd:get', () => 1, { permission: 'move:read' })
      .add('role:move,cmd:health', { public: true, handler: () => 1 })
    const rows = describeList(stoa)
    expect(rows.find((r) => r.pattern === 'cmd:get,role:move')).to.deep.include({
      permission: 'move:read',
      public: false,
    })
    expect(rows.find((r) => r.pattern === 'cmd:health,role:move')).to.deep.include({ permission: null, public: true })
  })

  it("lets the service declare what a Seneca-style plugin's actions require", async () => {
    function calc(this: { add(p: string, fn: (m: unknown, done: (e: null, out: unknown) => void) => void): void }) {
      this.add('role:calc,cmd:sum', (_m, done) => done(null, { answer: 3 }))
      this.add('role:calc,cmd:ping', (_m, done) => done(null, { pong: true }))
    }
    expect(() => createStoa().use(jwt, { secret: SECRET }).use(authz, { roles: ROLES }).use(calc)).to.throw(
      StoaError,
      /declares neither/,
    )
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .use(authz, {
        roles: { 'user-mover': ['calc:use'] },
        declare: { 'role:calc,cmd:sum': { permission: 'calc:use' }, 'cmd:ping,role:calc': { public: true } },
      })
      .use(calc)
    expect(await stoa.act('role:calc,cmd:ping')).to.deep.equal({ pong: true })
    expect(await stoa.act('role:calc,cmd:sum').catch((e: StoaError) => e.code)).to.equal('UNAUTHENTICATED')
    expect(await stoa.act('role:calc,cmd:sum', {}, { token: token(['user-mover']) })).to.deep.equal({ answer: 3 })
  })
})

describe('authz beside the health, web and metrics plugins', () => {
  it('starts with the health probes on the web route table: their routes action is public', async () => {
    const { default: health } = await import('../../../plugins/health/index.js')
    const { default: web, webRoutes } = await import('../../../plugins/web/index.js')
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: ROLES })
      .add('role:move,cmd:get', () => 'get', { permission: 'move:read' })
      .use(web, { routes: { 'GET /moves': 'role:move,cmd:get' } })
      .use(health, { web: true })
    await stoa.ready()
    expect((await webRoutes(stoa)).map((r) => r.path)).to.deep.equal(['/moves', '/healthz', '/readyz'])
    await stoa.close()
  })

  it('starts with the metrics plugin, whose scrape Prometheus makes with no identity', async () => {
    const { default: metrics } = await import('../../../plugins/metrics/index.js')
    const stoa = createStoa()
      .use(jwt, { secret: SECRET })
      .use(authz, { roles: ROLES })
      .use(metrics, { processMetrics: false })
    await stoa.ready()
    expect(await stoa.act('role:metrics,cmd:scrape')).to.have.property('contentType')
    await stoa.close()
  })
})
