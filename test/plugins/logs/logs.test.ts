import { expect } from 'chai'
import { createStoa, StoaError } from '../../../actions/index.js'
import logs, { CENSOR, createPinoLogger, logOptionsFromEnvironment } from '../../../plugins/logs/index.js'

/** A destination keeping every line written to it. */
function lines() {
  const out: string[] = []
  return {
    out,
    write(chunk: string) {
      out.push(...chunk.split('\n').filter((l) => l !== ''))
      return true
    },
    json: () => out.map((l) => JSON.parse(l) as Record<string, any>),
  }
}

describe('logs', () => {
  describe('createPinoLogger', () => {
    it('writes JSON lines with the service and level, below the level nothing', () => {
      const dest = lines()
      const log = createPinoLogger({ level: 'info', service: 'tally', destination: dest })
      log.info({ trace: 't1' }, 'hello')
      log.debug({}, 'hidden')
      expect(dest.json()).to.have.length(1)
      expect(dest.json()[0]).to.deep.include({ level: 30, service: 'tally', trace: 't1', msg: 'hello' })
    })

    it('redacts tokens, cookies, Authorization headers and configured secret fields', () => {
      const dest = lines()
      const log = createPinoLogger({ destination: dest, secrets: ['apiKey'] })
      log.warn(
        {
          token: 'a.b.c',
          headers: { authorization: 'Bearer a.b.c', cookie: 'sid=1', 'set-cookie': 'sid=2', 'user-agent': 'curl' },
          req: { headers: { authorization: 'Bearer x', cookie: 'sid=3' } },
          meta: { token: 'x.y.z' },
          apiKey: 'k1',
          config: { apiKey: 'k2' },
        },
        'careful',
      )
      const text = dest.out.join('\n')
      for (const secret of ['a.b.c', 'sid=1', 'sid=2', 'Bearer x', 'sid=3', 'x.y.z', 'k1', 'k2'])
        expect(text).not.to.include(secret)
      const line = dest.json()[0]!
      expect(line.headers).to.deep.equal({
        authorization: CENSOR,
        cookie: CENSOR,
        'set-cookie': CENSOR,
        'user-agent': 'curl',
      })
      expect(line.token).to.equal(CENSOR)
      expect(line.config.apiKey).to.equal(CENSOR)
    })

    it('writes readable lines with pretty', () => {
      const dest = lines()
      createPinoLogger({ pretty: true, destination: dest }).info({ token: 'a.b.c' }, 'hello there')
      const text = dest.out.join('\n')
      expect(text).to.include('hello there')
      expect(text).not.to.include('a.b.c')
      expect(() => JSON.parse(dest.out[0]!)).to.throw()
    })

    it('refuses an unknown option', () => {
      expect(() => createPinoLogger({ level: 'loud' as never })).to.throw(StoaError, /option "level"/)
    })
  })

  describe('LOG_LEVEL', () => {
    it('gives the level, in any case, and refuses an unknown one', () => {
      expect(logOptionsFromEnvironment({ LOG_LEVEL: 'DEBUG' })).to.deep.equal({ level: 'debug' })
      expect(logOptionsFromEnvironment({})).to.deep.equal({})
      expect(() => logOptionsFromEnvironment({ LOG_LEVEL: 'verbose' })).to.throw(/LOG_LEVEL/)
    })
  })

  describe('the logs plugin', () => {
    it('writes one line per call with trace, id, pattern, service, duration and outcome; never the message', async () => {
      const dest = lines()
      const s = createStoa({ name: 'math', logger: createPinoLogger({ level: 'debug', destination: dest }) })
        .use(logs)
        .add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
        .add('role:math,cmd:fail', async () => {
          throw new StoaError('FORBIDDEN', 'no')
        })
      await s.act('role:math,cmd:sum', { left: 1, right: 41, note: 'private-words' }, { trace: 'tr-9', id: 'id-9' })
      await s.act('role:math,cmd:fail').catch(() => undefined)
      const calls = dest.json().filter((l) => l.pattern !== undefined)
      expect(calls[0]).to.deep.include({
        level: 20,
        service: 'math',
        pattern: s.find('role:math,cmd:sum')!.key,
        kind: 'act',
        trace: 'tr-9',
        id: 'id-9',
        outcome: 'ok',
      })
      expect(calls[0]!.durationMs).to.be.a('number')
      expect(calls[1]).to.deep.include({ level: 40, outcome: 'FORBIDDEN' })
      expect(dest.out.join('\n')).not.to.include('private-words')
      await s.close()
    })

    it('writes nothing for successful calls at info, the default callLevel being debug; failures still', async () => {
      const dest = lines()
      const s = createStoa({ name: 'math', logger: createPinoLogger({ level: 'info', destination: dest }) })
        .use(logs)
        .add('role:x', () => 1)
        .add('role:y', () => {
          throw new StoaError('FORBIDDEN', 'taken')
        })
      await s.act('role:x')
      expect(dest.out).to.deep.equal([])
      await s.act('role:y').catch(() => undefined)
      expect(dest.json()).to.have.length(1)
      expect(dest.json()[0]).to.deep.include({ level: 40, pattern: 'role:y', outcome: 'FORBIDDEN' })
      await s.close()
    })

    it('follows a level changed while the service runs, from the next turn of the event loop', async () => {
      const dest = lines()
      const log = createPinoLogger({ level: 'info', destination: dest })
      const s = createStoa({ name: 'math', logger: log })
        .use(logs)
        .add('role:x', () => 1)
      await s.act('role:x')
      expect(dest.out).to.deep.equal([])
      ;(log as unknown as { level: string }).level = 'debug'
      await new Promise((r) => setImmediate(r))
      await s.act('role:x')
      expect(dest.json()).to.have.length(1)
      expect(dest.json()[0]).to.deep.include({ level: 20, pattern: 'role:x', outcome: 'ok' })
      ;(log as unknown as { level: string }).level = 'info'
      await new Promise((r) => setImmediate(r))
      await s.act('role:x')
      expect(dest.json()).to.have.length(1)
      await s.close()
    })

    it('writes nothing at all when the logger is silent', async () => {
      const dest = lines()
      const s = createStoa({ name: 'math', logger: createPinoLogger({ level: 'silent', destination: dest }) })
        .use(logs, { callLevel: 'info', failureLevel: 'error' })
        .add('role:y', () => {
          throw new StoaError('FORBIDDEN', 'taken')
        })
      await s.act('role:y').catch(() => undefined)
      expect(dest.out).to.deep.equal([])
      await s.close()
    })
  })
})
