import { createRequire } from 'node:module'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { freePort } from '../../helpers/ports.js'
import { quietLogger } from '../../helpers/wait.js'

const require = createRequire(import.meta.url)
const Seneca = require('seneca') as (opts?: Record<string, unknown>) => any

function senecaInstance(extra: Record<string, unknown> = {}): any {
  return Seneca({ log: 'silent', system: { close_signals: {} }, ...extra })
}

function senecaAct(seneca: any, msg: Record<string, unknown>): Promise<{ err: any; out: any }> {
  return new Promise((resolve) => seneca.act(msg, (err: any, out: any) => resolve({ err, out })))
}

function senecaClose(seneca: any): Promise<void> {
  return new Promise((resolve) => seneca.close(() => resolve()))
}

describe('http transport and Seneca (seneca-transport, type http)', function () {
  this.timeout(15000)

  describe('a Seneca client acting on a stoa listener', () => {
    let stoa: Stoa<any>
    let seneca: any
    const seen: { trace: string; caller: string | undefined; keys: string[]; token: string | undefined }[] = []

    before(async () => {
      stoa = createStoa({ name: 'math', logger: quietLogger() })
      stoa.add('role:math,cmd:sum', (m, ctx) => {
        seen.push({ trace: ctx.trace, caller: ctx.caller, keys: Object.keys(m).sort(), token: ctx.token })
        return { answer: Number(m.left) + Number(m.right) }
      })
      stoa.add('role:math,cmd:forbid', () => {
        throw new StoaError('FORBIDDEN', 'not for you', { need: 'admin' })
      })
      stoa.add('role:math,cmd:crash', () => {
        throw new Error('secret postgres://u:p@db')
      })
      const transport = createHttpTransport()
      stoa.listen(transport)
      await stoa.ready()
      const port = Number(new URL(transport.address()!).port)
      // seneca-transport reads extra request headers from its own options.
      seneca = senecaInstance({
        plugin: { transport: { web: { headers: { authorization: 'Bearer se.ne.ca' } } } },
      }).client({
        type: 'http',
        port,
        pin: 'role:math',
      })
      await new Promise<void>((resolve) => seneca.ready(() => resolve()))
    })

    after(async () => {
      await senecaClose(seneca)
      await stoa.close()
    })

    it('gets the result, and the action gets the message without Seneca directives', async () => {
      const { err, out } = await senecaAct(seneca, { role: 'math', cmd: 'sum', left: 1, right: 2 })
      expect(err).to.equal(null)
      expect(out).to.deep.equal({ answer: 3 })
      const last = seen.at(-1)!
      expect(last.keys).to.deep.equal(['cmd', 'left', 'right', 'role'])
      expect(last.caller).to.equal('seneca')
      expect(last.token).to.equal('se.ne.ca')
    })

    it("keeps Seneca's transaction id as the trace", async () => {
      const { err } = await senecaAct(seneca, { role: 'math', cmd: 'sum', left: 1, right: 1, tx$: 'tx-from-seneca' })
      expect(err).to.equal(null)
      expect(seen.at(-1)!.trace).to.equal('tx-from-seneca')
    })

    it('gets a stoa error the way it gets a Seneca listener error: status and payload with the code', async () => {
      const { err } = await senecaAct(seneca, { role: 'math', cmd: 'forbid' })
      expect(err).to.be.instanceOf(Error)
      expect(err.orig.output.statusCode).to.equal(403)
      expect(err.orig.data.payload).to.deep.equal({
        code: 'FORBIDDEN',
        message: 'not for you',
        details: { need: 'admin' },
      })
    })

    it('gets NOT_FOUND for a message no stoa action matches, and ACTION_FAILED without internals for a crash', async () => {
      const missing = await senecaAct(seneca, { role: 'math', cmd: 'nothing' })
      expect(missing.err.orig.output.statusCode).to.equal(404)
      expect(missing.err.orig.data.payload.code).to.equal('NOT_FOUND')
      const crash = await senecaAct(seneca, { role: 'math', cmd: 'crash' })
      expect(crash.err.orig.data.payload.code).to.equal('ACTION_FAILED')
      expect(JSON.stringify(crash.err.orig.data.payload)).not.to.include('secret')
    })
  })

  describe('a stoa client acting on a Seneca listener', () => {
    let seneca: any
    let stoa: Stoa<any>

    before(async () => {
      const port = await freePort()
      seneca = senecaInstance()
      seneca.add('role:math,cmd:sum', (m: any, done: any) => done(null, { answer: m.left + m.right, tx: m.tx$ }))
      seneca.add('role:math,cmd:forbid', (_m: any, done: any) => {
        const err: any = new Error('not for you')
        err.code = 'FORBIDDEN'
        err.details = { need: 'admin' }
        done(err)
      })
      seneca.add('role:math,cmd:crash', () => {
        throw new Error('secret postgres://u:p@db')
      })
      seneca.listen({ type: 'http', port, host: '127.0.0.1' })
      await new Promise<void>((resolve) => seneca.ready(() => resolve()))
      stoa = createStoa({ name: 'gateway', logger: quietLogger() })
      stoa.client(createHttpTransport({ url: `http://127.0.0.1:${port}` }), ['role:math'])
      await stoa.ready()
    })

    after(async () => {
      await stoa.close()
      await senecaClose(seneca)
    })

    it('gets the result, and Seneca gets the trace as its transaction id', async () => {
      const out = await stoa.act('role:math,cmd:sum', { left: 1, right: 2 }, { trace: 'trace-7' })
      expect(out).to.deep.equal({ answer: 3, tx: 'trace-7' })
    })

    it('gets the stoa code, message and details of a Seneca error that carries one', async () => {
      const err = (await stoa.act('role:math,cmd:forbid').catch((e: unknown) => e)) as StoaError
      expect(err).to.be.instanceOf(StoaError)
      expect(err.code).to.equal('FORBIDDEN')
      expect(err.message).to.equal('not for you')
      expect(err.details).to.deep.equal({ need: 'admin' })
    })

    it("maps Seneca's act_not_found to NOT_FOUND", async () => {
      const err = (await stoa.act('role:math,cmd:nothing').catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('NOT_FOUND')
      expect(err.details).to.deep.equal({ seneca: 'act_not_found' })
    })

    it('answers a Seneca action that throws with ACTION_FAILED, without its message', async () => {
      const err = (await stoa.act('role:math,cmd:crash').catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('ACTION_FAILED')
      expect(err.message).not.to.include('secret')
      expect(err.details).to.deep.equal({ seneca: 'act_execute' })
    })
  })
})
