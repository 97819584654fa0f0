import { Agent } from 'node:http'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa } from '../../../actions/index.js'
import type { HttpTransport } from '../../../transports/http/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import type { RawAnswer } from '../../helpers/http.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'

function post(
  url: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string> = {},
  opts: { method?: string; agent?: Agent; chunked?: boolean } = {},
): Promise<RawAnswer> {
  return rawRequest(url, opts.method ?? 'POST', path, { ...opts, headers, ...(body === undefined ? {} : { body }) })
}

describe('http transport listener', function () {
  this.timeout(10000)
  let stoa: Stoa<any>
  let transport: HttpTransport
  let url: string
  const seen: Record<string, unknown>[] = []
  const slow = { started: 0, finished: 0 }
  const logger = quietLogger()

  before(async () => {
    stoa = createStoa({ name: 'math', logger })
    stoa.add('role:math,cmd:big', () => ({ n: 1n }))
    stoa.add('role:math,cmd:sum', (m, ctx) => {
      seen.push({ trace: ctx.trace, id: ctx.id, token: ctx.token, caller: ctx.caller, deadline: ctx.deadline })
      return { answer: Number(m.left) + Number(m.right) }
    })
    stoa.add('role:other,cmd:x', () => ({ reached: true }))
    stoa.add('role:math,cmd:none', () => undefined)
    stoa.add('role:math,cmd:slow', async () => {
      slow.started++
      await new Promise((r) => setTimeout(r, 500))
      slow.finished++
      return { late: true }
    })
    transport = createHttpTransport({ maxBodyBytes: 1024 })
    stoa.listen(transport, ['role:math'])
    await stoa.ready()
    url = transport.address()!
  })

  after(async () => {
    await stoa.close()
  })

  it('tells its address once listening, on 127.0.0.1 by default', () => {
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(createHttpTransport().address()).to.equal(undefined)
  })

  it('answers a plain JSON POST /act with the result, making up ids', async () => {
    const res = await post(url, '/act', '{"role":"math","cmd":"sum","left":1,"right":2}', {
      'content-type': 'application/json',
    })
    expect(res.status).to.equal(200)
    expect(res.json).to.deep.equal({ answer: 3 })
    const last = seen.at(-1)!
    expect(last.caller).to.equal('http')
    expect(last.trace).to.equal(last.id)
  })

  it('reads id, trace, time budget, caller and token from the stoa headers', async () => {
    const before = Date.now()
    await post(url, '/act', '{"role":"math","cmd":"sum","left":1,"right":2}', {
      'content-type': 'application/json',
      'x-stoa-id': 'm-1',
      'x-stoa-trace': 't-1',
      'x-stoa-timeout-ms': '4000',
      'x-stoa-caller': 'gateway',
      authorization: 'Bearer a.b.c',
    })
    const { deadline, ...rest } = seen.at(-1)!
    expect(rest).to.deep.equal({ trace: 't-1', id: 'm-1', token: 'a.b.c', caller: 'gateway' })
    expect(deadline).to.be.within(before + 4000, Date.now() + 4000)
  })

  it('answers a time budget of 0 with 504 TIMEOUT without running the action', async () => {
    const before = seen.length
    const res = await post(url, '/act', '{"role":"math","cmd":"sum"}', {
      'content-type': 'application/json',
      'x-stoa-timeout-ms': '0',
    })
    expect(res.status).to.equal(504)
    expect(res.json.code).to.equal('TIMEOUT')
    expect(seen.length).to.equal(before)
  })

  it('answers 504 TIMEOUT once a small time budget runs out, without waiting for the action', async () => {
    const res = await post(url, '/act', '{"role":"math","cmd":"slow"}', {
      'content-type': 'application/json',
      'x-stoa-timeout-ms': '50',
    })
    expect(res.status).to.equal(504)
    expect(res.json.code).to.equal('TIMEOUT')
    expect(slow.started - slow.finished, 'the action still running when the answer came').to.equal(1)
  })

  it("runs on a budget alone, by the listener's clock: an absolute x-stoa-deadline, however wrong, is ignored", async () => {
    // A caller whose clock is far behind once sent an absolute deadline long past by ours.
    const before = Date.now()
    const res = await post(url, '/act', '{"role":"math","cmd":"sum","left":2,"right":2}', {
      'content-type': 'application/json',
      'x-stoa-deadline': String(before - 3_600_000),
      'x-stoa-timeout-ms': '3000',
    })
    expect(res.status).to.equal(200)
    expect(res.json).to.deep.equal({ answer: 4 })
    expect(seen.at(-1)!.deadline).to.be.within(before + 3000, Date.now() + 3000)
  })

  it('answers an action that returns nothing with 200 and an empty body', async () => {
    const res = await post(url, '/act', '{"role":"math","cmd":"none"}', { 'content-type': 'application/json' })
    expect(res.status).to.equal(200)
    expect(res.text).to.equal('')
  })

  it('serves only the actions matching its pins: others are 404 NOT_FOUND', async () => {
    const res = await post(url, '/act', '{"role":"other","cmd":"x"}', { 'content-type': 'application/json' })
    expect(res.status).to.equal(404)
    expect(res.json.code).to.equal('NOT_FOUND')
  })

  const bad: [string, () => Promise<RawAnswer>, number, string][] = [
    [
      'malformed JSON',
      () => post(url, '/act', '{"role":', { 'content-type': 'application/json' }),
      400,
      'INVALID_JSON',
    ],
    [
      'a JSON body that is not an object',
      () => post(url, '/act', '"x"', { 'content-type': 'application/json' }),
      400,
      'INVALID_MESSAGE',
    ],
    [
      'a body that is not JSON',
      () => post(url, '/act', 'role=math', { 'content-type': 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a body over the limit',
      () => post(url, '/act', JSON.stringify({ pad: 'x'.repeat(2000) }), { 'content-type': 'application/json' }),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'a chunked body over the limit',
      () =>
        post(
          url,
          '/act',
          JSON.stringify({ pad: 'x'.repeat(2000) }),
          { 'content-type': 'application/json' },
          { chunked: true },
        ),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    ['another path', () => post(url, '/other', '{}', { 'content-type': 'application/json' }), 404, 'NOT_FOUND'],
    ['another method', () => post(url, '/act', undefined, {}, { method: 'GET' }), 405, 'METHOD_NOT_ALLOWED'],
    [
      'a negative time budget',
      () => post(url, '/act', '{}', { 'content-type': 'application/json', 'x-stoa-timeout-ms': '-1' }),
      400,
      'INVALID_MESSAGE',
    ],
    [
      'a time budget that is not a whole number',
      () => post(url, '/act', '{}', { 'content-type': 'application/json', 'x-stoa-timeout-ms': '1.5' }),
      400,
      'INVALID_MESSAGE',
    ],
    [
      'an unknown kind',
      () => post(url, '/act', '{}', { 'content-type': 'application/json', 'x-stoa-kind': 'shout' }),
      400,
      'INVALID_MESSAGE',
    ],
    [
      'a non-bearer Authorization',
      () => post(url, '/act', '{}', { 'content-type': 'application/json', authorization: 'Basic dTpw' }),
      401,
      'UNAUTHENTICATED',
    ],
  ]
  for (const [what, send, status, code] of bad) {
    it(`answers ${what} with ${status} ${code}`, async () => {
      const res = await send()
      expect(res.status).to.equal(status)
      expect(res.json.code).to.equal(code)
    })
  }

  it('answers a result JSON cannot hold with 500 ACTION_FAILED, logs why and keeps serving', async () => {
    const res = await post(url, '/act', '{"role":"math","cmd":"big"}', { 'content-type': 'application/json' })
    expect(res.status).to.equal(500)
    expect(res.json.code).to.equal('ACTION_FAILED')
    expect(logger.entries.some((e) => e.level === 'error' && /BigInt/.test(String(e.fields.err)))).to.equal(true)
    const seneca = await post(url, '/act', '{"role":"math","cmd":"big"}', {
      'content-type': 'application/json',
      'seneca-id': 'a/b',
      'seneca-kind': 'act',
      'seneca-origin': 'o',
      'seneca-track': 'o',
      'seneca-accept': 'x',
      'seneca-time-client-sent': '0',
    })
    expect(seneca.status).to.equal(500)
    expect(JSON.stringify(seneca.json)).to.match(/ACTION_FAILED/)
    expect(
      (
        await post(url, '/act', '{"role":"math","cmd":"sum","left":1,"right":1}', {
          'content-type': 'application/json',
        })
      ).json,
    ).to.deep.equal({
      answer: 2,
    })
  })

  it('keeps prototype-polluting keys harmless and keeps serving', async () => {
    const res = await post(
      url,
      '/act',
      '{"__proto__":{"polluted":true},"role":"math","cmd":"sum","left":2,"right":3}',
      { 'content-type': 'application/json' },
    )
    expect(res.json).to.deep.equal({ answer: 5 })
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
  })

  it('keeps connections alive between requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const body = '{"role":"math","cmd":"sum","left":1,"right":2}'
      const first = await post(url, '/act', body, { 'content-type': 'application/json' }, { agent })
      const second = await post(url, '/act', body, { 'content-type': 'application/json' }, { agent })
      expect(first.reused).to.equal(false)
      expect(second.reused).to.equal(true)
      expect(second.json).to.deep.equal({ answer: 3 })
    } finally {
      agent.destroy()
    }
  })
})

describe('http transport options', () => {
  it('refuses bad options with INVALID_OPTIONS naming them', () => {
    expect(() => createHttpTransport({ port: -1 }))
      .to.throw(/option "port"/)
      .with.property('code', 'INVALID_OPTIONS')
    expect(() => createHttpTransport({ url: 'ftp://x' }))
      .to.throw(/option "url"/)
      .with.property('code', 'INVALID_OPTIONS')
  })

  it('refuses TLS material that is not PEM, and a ca without an https url', () => {
    const pem = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n'
    expect(() => createHttpTransport({ tls: { key: 'test/fixtures/tls/key.pem', cert: pem } }))
      .to.throw(/option "tls.key": must be PEM/)
      .with.property('details')
      .that.deep.equals({ transport: 'http', fields: ['tls.key'] })
    expect(() => createHttpTransport({ tls: { key: pem } as never })).to.throw(/option "tls.cert"/)
    expect(() => createHttpTransport({ url: 'http://127.0.0.1:1', ca: pem })).to.throw(
      /option "ca": is only used with an https: url/,
    )
    expect(() => createHttpTransport({ ca: Buffer.from(pem) })).to.throw(/option "ca"/)
    expect(() =>
      createHttpTransport({
        url: 'https://127.0.0.1:1',
        ca: Buffer.from(pem),
        tls: { key: pem, cert: Buffer.from(pem) },
      }),
    ).not.to.throw()
  })

  it('refuses to act as a client without a url', async () => {
    const s = createStoa({ logger: quietLogger() }).client(createHttpTransport(), ['role:x'])
    const err = await s.ready().catch((e: unknown) => e)
    expect(err).to.have.property('code', 'INVALID_OPTIONS')
    await s.close()
  })
})
