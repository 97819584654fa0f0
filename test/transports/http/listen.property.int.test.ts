import { expect } from 'chai'
import fc from 'fast-check'
import type { Stoa } from '../../../actions/index.js'
import { createStoa, StoaError } from '../../../actions/index.js'
import { createHttpTransport } from '../../../transports/http/index.js'
import { rawRequest } from '../../helpers/http.js'
import { quietLogger } from '../../helpers/wait.js'
import { exchange, garbage, parseAnswer, problem, request, serialize } from './http-fuzz.js'

/*
 * Property tests of the HTTP transport's listener on random requests (issue 19, item 10):
 * every answer is well formed (a status, and for a failure a code from the table that gives
 * that status), nothing hangs, and the listener keeps answering. fast-check prints the seed
 * and the shrunk request of a failure.
 */

const MAX_BODY = 256

/** Messages aimed at the listener's actions, with random extra pairs. */
const messages = fc
  .tuple(
    fc.constantFrom('echo', 'throw', 'never', 'big', 'none', 'forbidden'),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  )
  .map(([cmd, extra]) => ({ ...extra, role: 'fuzz', cmd }))

describe('http transport listener properties', function () {
  this.timeout(30_000)
  let stoa: Stoa<any>
  let url: string

  before(async () => {
    stoa = createStoa({ name: 'fuzz', logger: quietLogger(), timeoutMs: 50 })
    stoa.add('role:fuzz,cmd:echo', (m) => ({ ...m }))
    stoa.add('role:fuzz,cmd:throw', () => {
      throw new Error('boom')
    })
    stoa.add('role:fuzz,cmd:never', () => new Promise(() => undefined))
    stoa.add('role:fuzz,cmd:big', () => ({ n: 1n }))
    stoa.add('role:fuzz,cmd:forbidden', () => {
      throw new StoaError('FORBIDDEN', 'no')
    })
    stoa.add('task:fuzz.item.make', () => undefined)
    stoa.on('item.made', () => undefined)
    const transport = createHttpTransport({ maxBodyBytes: MAX_BODY })
    stoa.listen(transport)
    await stoa.ready()
    url = transport.address()!
  })

  after(async () => {
    await stoa.close()
  })

  /** The listener still answers a plain act. */
  async function alive(): Promise<void> {
    const out = await rawRequest(url, 'POST', '/act', {
      body: '{"role":"fuzz","cmd":"echo","n":1}',
      headers: { 'content-type': 'application/json' },
    })
    expect(out.status).to.equal(200)
    expect(out.json).to.deep.equal({ role: 'fuzz', cmd: 'echo', n: 1 })
  }

  it('answers every request with a status and, on failure, a code from the table', async () => {
    await fc.assert(
      fc.asyncProperty(
        request(
          [
            ['POST', '/act'],
            ['GET', '/healthz'],
            ['GET', '/readyz'],
          ],
          messages,
          MAX_BODY,
        ),
        async (r) => {
          const x = await exchange(url, serialize(r))
          // The probes answer with their verdict, not an error: 200 alive, 200/503 ready.
          const success = new Set(r.target === '/readyz' || r.target === '/healthz' ? [200, 503] : [200, 202])
          const wrong = problem(r, x, (json) => json, success)
          expect(wrong, `${wrong} for ${serialize(r).toString('latin1').slice(0, 300)}`).to.equal(undefined)
        },
      ),
      { numRuns: 250 },
    )
    await alive()
  })

  it('survives garbage bytes: an HTTP answer or a closed connection, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const x = await exchange(url, bytes, true)
        expect(x.end, `hung on ${JSON.stringify(bytes.toString('latin1'))}`).to.not.equal('hung')
        if (x.raw !== '') expect(parseAnswer(x.raw), JSON.stringify(x.raw.slice(0, 200))).to.not.equal(undefined)
      }),
      { numRuns: 150 },
    )
    await alive()
  })
})
