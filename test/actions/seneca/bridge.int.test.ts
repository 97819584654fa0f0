import { createRequire } from 'node:module'
import { expect } from 'chai'
import type { Context, Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import { createAmqpTransport } from '../../../transports/amqp/index.js'
import type { HttpTransport } from '../../../transports/http/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { AMQP_URL, deleteTopology, uniquePrefix } from '../../fixtures/amqp-broker.js'
import { quietLogger } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)
type Plugin = (this: unknown, o: object) => unknown
const entity = require('seneca-entity') as Plugin
const promisify = require('seneca-promisify') as Plugin
const users = require('../../fixtures/seneca-users.cjs') as Plugin
const audit = require('../../fixtures/seneca-audit.cjs') as Plugin

type Msg = Record<string, unknown>
interface Seen {
  token: string | undefined
  trace: string
  deadline: number
}

/**
 * Two services: `users` runs Seneca plugins (entities, exports, prior) and listens; `gateway`
 * is plain stoa, calls `users` and is called back by the Seneca audit plugin (role:notify).
 */
function services(): { users: Stoa; gateway: Stoa; seen: { signup?: Seen; notify?: Seen } } {
  const seen: { signup?: Seen; notify?: Seen } = {}
  const usersSvc = createStoa({ name: 'users', logger: quietLogger() })
  usersSvc.use(promisify).use(entity).use(users).use(audit)
  const gateway = createStoa({ name: 'gateway', logger: quietLogger() })
  gateway.add('role:notify,cmd:registered', (msg: Msg, ctx: Context) => {
    seen.notify = { token: ctx.token, trace: ctx.trace, deadline: ctx.deadline }
    return { sent: true, to: msg.name }
  })
  gateway.add('role:signup', (msg: Msg, ctx: Context) => {
    seen.signup = { token: ctx.token, trace: ctx.trace, deadline: ctx.deadline }
    return ctx.act({ role: 'user', cmd: 'register', name: msg.name, email: msg.email })
  })
  return { users: usersSvc, gateway, seen }
}

interface Running {
  users: Stoa
  gateway: Stoa
  seen: { signup?: Seen; notify?: Seen }
  close: () => Promise<void>
  usersUrl?: string
}

function crossing(setup: () => Promise<Running>): () => Running {
  let s: Running
  before(async () => {
    s = await setup()
  })
  after(async () => {
    await s?.close()
  })

  it("a remote caller reaches a Seneca plugin's actions", async () => {
    const out = (await s.gateway.act({ role: 'user', cmd: 'register', name: 'Remote', email: 'r@x' })) as Msg
    expect(out).to.include({ audited: true, notified: true, name: 'remote', email: 'r@x' })
    expect(out.id).to.match(/^[0-9a-z]{6}$/)
    const got = await s.gateway.act({ role: 'user', cmd: 'get', id: out.id })
    expect(got).to.deep.equal({ name: 'remote', email: 'r@x', id: out.id })
  })

  it('a stoa action calls into the Seneca plugin, which calls back with the same token, trace and deadline', async () => {
    const out = (await s.gateway.act({ role: 'signup', name: 'Carol', email: 'c@x' }, undefined, {
      token: 'tok-42',
      trace: 'trace-42',
      timeoutMs: 8000,
    })) as Msg
    expect(out).to.include({ audited: true, notified: true, name: 'carol' })
    expect(s.seen.notify?.token).to.equal('tok-42')
    expect(s.seen.notify?.trace).to.equal('trace-42')
    // The deadline crosses as time left on the wire: equal to the millisecond or two.
    expect(s.seen.notify!.deadline).to.be.closeTo(s.seen.signup!.deadline, 50)
  })

  it('an error from the Seneca plugin reaches the remote caller with its code', async () => {
    const err = await s.gateway.act({ role: 'user', cmd: 'register', name: 'x' }).then(
      () => undefined,
      (e: { code: string }) => e,
    )
    expect(err?.code).to.equal('ACTION_FAILED')
  })
  return () => s
}

describe('actions/seneca/bridge over HTTP: Seneca plugins served and calling back', function () {
  this.timeout(20000)
  const running = crossing(async () => {
    const s = services()
    const usersHttp = createHttpTransport()
    const gatewayHttp = createHttpTransport()
    s.users.listen(usersHttp)
    s.gateway.listen(gatewayHttp)
    await Promise.all([s.users.ready(), s.gateway.ready()])
    s.users.client(createHttpTransport({ url: (gatewayHttp as HttpTransport).address()! }), ['role:notify'])
    s.gateway.client(createHttpTransport({ url: (usersHttp as HttpTransport).address()! }), ['role:user'])
    await Promise.all([s.users.ready(), s.gateway.ready()])
    return {
      ...s,
      usersUrl: usersHttp.address()!,
      close: async () => void (await Promise.all([s.gateway.close(), s.users.close()])),
    }
  })

  it("a Seneca client (Seneca's own HTTP transport) reaches the plugin, whose call back carries its token", async () => {
    const s = running()
    const Seneca = require('seneca') as (o: object) => SenecaClient
    const port = Number(new URL(s.usersUrl!).port)
    const client = Seneca({
      log: 'silent',
      system: { close_signals: {} },
      plugin: { transport: { web: { headers: { authorization: 'Bearer se.ne.ca' } } } },
    })
    client.client({ type: 'http', port, pin: 'role:user' })
    try {
      await new Promise<void>((resolve) => client.ready(() => resolve()))
      const out = await new Promise<Msg>((resolve, reject) =>
        client.act({ role: 'user', cmd: 'register', name: 'Sen' }, (err, res) =>
          err ? reject(err) : resolve(res as Msg),
        ),
      )
      expect(out).to.include({ audited: true, notified: true, name: 'sen' })
      expect(s.seen.notify?.token).to.equal('se.ne.ca')
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()))
    }
  })
})

interface SenecaClient {
  client(o: object): SenecaClient
  ready(cb: () => void): void
  act(msg: object, cb: (err: Error | null, out: unknown) => void): void
  close(cb: () => void): void
}

describe('actions/seneca/bridge over AMQP: Seneca plugins served and calling back', function () {
  this.timeout(20000)
  const prefix = uniquePrefix('seneca-bridge')
  crossing(async () => {
    const s = services()
    s.users.listen(createAmqpTransport({ url: AMQP_URL, prefix }))
    s.gateway.listen(createAmqpTransport({ url: AMQP_URL, prefix }))
    s.users.client(createAmqpTransport({ url: AMQP_URL, prefix, target: 'gateway' }), ['role:notify'])
    s.gateway.client(createAmqpTransport({ url: AMQP_URL, prefix, target: 'users' }), ['role:user'])
    await Promise.all([s.users.ready(), s.gateway.ready()])
    return {
      ...s,
      close: async () => {
        await Promise.all([s.gateway.close(), s.users.close()])
        await deleteTopology(prefix, ['users', 'gateway'])
      },
    }
  })
})
