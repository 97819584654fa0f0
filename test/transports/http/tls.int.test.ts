import { readFileSync } from 'node:fs'
import { expect } from 'chai'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { quietLogger } from '../../helpers/wait.js'

/** A self-signed certificate for 127.0.0.1 and localhost, and its key: see the README beside them. */
const fixtures = new URL('../../fixtures/tls/', import.meta.url)
const key = readFileSync(new URL('key.pem', fixtures))
const cert = readFileSync(new URL('cert.pem', fixtures), 'utf8')

describe('http transport over TLS', function () {
  this.timeout(10000)
  let server: Stoa<any>
  let url: string
  const started: Stoa<any>[] = []

  before(async () => {
    server = createStoa({ name: 'math', logger: quietLogger() })
    server.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
    server.add('role:math,cmd:whoami', (_m, ctx) => ({ trace: ctx.trace, token: ctx.token, caller: ctx.caller }))
    server.add('role:math,cmd:forbid', () => {
      throw new StoaError('FORBIDDEN', 'not for you', { need: 'admin' })
    })
    // The key as the Buffer a file read gives, the certificate as a string: both are PEM.
    const listener = createHttpTransport({ tls: { key, cert } })
    server.listen(listener)
    await server.ready()
    url = listener.address()!
  })

  afterEach(async () => {
    for (const s of started.splice(0)) await s.close()
  })

  after(async () => {
    await server.close()
  })

  function client(options: { ca?: string }): Stoa<any> {
    const stoa = createStoa({ name: 'gateway', logger: quietLogger() })
    stoa.client(createHttpTransport({ url, ...options }), ['role:math'])
    started.push(stoa)
    return stoa
  }

  it('tells an https address', () => {
    expect(url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/)
  })

  it('answers a client that trusts its certificate, carrying trace, token and caller', async () => {
    const gateway = client({ ca: cert })
    expect(await gateway.act('role:math,cmd:sum', { left: 1, right: 2 })).to.deep.equal({ answer: 3 })
    const who = await gateway.act('role:math,cmd:whoami', {}, { trace: 'trace-tls', token: 'a.b.c' })
    expect(who).to.deep.equal({ trace: 'trace-tls', token: 'a.b.c', caller: 'gateway' })
  })

  it('brings an error back with its code, message and details', async () => {
    const err = (await client({ ca: cert })
      .act('role:math,cmd:forbid')
      .catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err).to.include({ code: 'FORBIDDEN', message: 'not for you' })
    expect(err.details).to.deep.equal({ need: 'admin' })
  })

  it('fails a client that does not trust the certificate with UNAVAILABLE, not a hang, and keeps serving', async () => {
    // A hang would end in TIMEOUT at the call's deadline instead.
    const err = (await client({})
      .act('role:math,cmd:sum', { left: 1, right: 2 }, { timeoutMs: 5000 })
      .catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAVAILABLE')
    // Node's verification code, not its message: DEPTH_ZERO_SELF_SIGNED_CERT here.
    expect(err.message).to.match(/cannot reach 127\.0\.0\.1:\d+: \w*CERT\w*/)
    expect(await client({ ca: cert }).act('role:math,cmd:sum', { left: 2, right: 2 })).to.deep.equal({ answer: 4 })
  })
})
