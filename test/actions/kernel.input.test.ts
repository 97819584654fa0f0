import { expect } from 'chai'
import type { Message } from '../../actions/index.js'
import { createStoa, StoaError } from '../../actions/index.js'
import { quietLogger } from '../helpers/wait.js'

/*
 * The kernel's API on odd input (issue 19, item 10): each case is a counterexample a fuzzer
 * found, shrunk. Every call must settle, with a StoaError of a known code or a result.
 */

const make = (opts: Parameters<typeof createStoa>[0] = {}) => createStoa({ logger: quietLogger(), ...opts })

/** The outcome of a call that may also throw synchronously or never settle (bounded). */
async function outcome(call: () => Promise<unknown>, boundMs = 2000): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('never settled'), boundMs)))
  try {
    return await Promise.race([
      call().then(
        () => 'resolved',
        (e: unknown) => (e instanceof StoaError ? e.code : `not a StoaError: ${String(e)}`),
      ),
      hung,
    ])
  } catch (e) {
    return `threw: ${String(e)}`
  } finally {
    clearTimeout(timer)
  }
}

/** A name no String() can print: a null-prototype object has no toString at all. */
const bare = () => Object.create(null) as unknown as string
/** Nested deeper than Array.prototype.join can recurse. */
function deepArray(depth = 200_000): unknown {
  let a: unknown[] = []
  for (let i = 0; i < depth; i++) a = [a]
  return a
}

describe('actions/kernel on odd input', () => {
  describe('messages that are not objects', () => {
    it('refuses null extra data to act with INVALID_MESSAGE', async () => {
      const s = make()
      expect(await outcome(() => s.act({}, null as unknown as Message, {}))).to.equal('INVALID_MESSAGE')
      s.add('role:x', () => 1)
      expect(await outcome(() => s.act('role:x', null as unknown as Message))).to.equal('INVALID_MESSAGE')
      expect(await outcome(() => s.act('role:x', 5 as unknown as Message))).to.equal('INVALID_MESSAGE')
    })

    it('refuses null task or event data with INVALID_MESSAGE', async () => {
      const s = make()
      s.add('task:fuzz.item.make', () => 1)
      s.on('item.made', () => 1)
      await s.ready()
      expect(await outcome(() => s.send('fuzz.item.make', null as unknown as Message, null as never))).to.equal(
        'INVALID_MESSAGE',
      )
      expect(await outcome(() => s.emit('item.made', null as unknown as Message))).to.equal('INVALID_MESSAGE')
      expect(await outcome(() => s.send('fuzz.item.make', 'text' as unknown as Message))).to.equal('INVALID_MESSAGE')
    })

    it('takes null call options as no options', async () => {
      const s = make()
      s.add('role:x', () => 1)
      expect(await outcome(() => s.act('role:x', {}, null as never))).to.equal('resolved')
      expect(await outcome(() => s.act({ role: 'x' }, undefined, null as never))).to.equal('resolved')
    })
  })

  describe('names that cannot be printed', () => {
    it('refuses a null-prototype object as a task or event name with INVALID_NAME', async () => {
      const s = make()
      await s.ready()
      expect(await outcome(() => s.send(bare(), {}))).to.equal('INVALID_NAME')
      expect(await outcome(() => s.emit(bare(), {}))).to.equal('INVALID_NAME')
      expect(() => s.on(bare(), () => 1))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_NAME')
    })

    it('refuses a very deeply nested array as a name with INVALID_NAME', async () => {
      const s = make()
      await s.ready()
      expect(await outcome(() => s.send(deepArray() as string, {}))).to.equal('INVALID_NAME')
      expect(await outcome(() => s.emit(deepArray() as string, {}))).to.equal('INVALID_NAME')
    })
  })

  describe('thenables', () => {
    it('fails with ACTION_FAILED when the returned thenable throws from then', async () => {
      const s = make()
      s.add('role:bad', () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        then() {
          throw new Error('then blew up')
        },
      }))
      expect(await outcome(() => s.act('role:bad'))).to.equal('ACTION_FAILED')
    })

    it('fails with ACTION_FAILED when reading then throws', async () => {
      const s = make()
      s.add('role:bad', () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        get then() {
          throw new Error('no then for you')
        },
      }))
      expect(await outcome(() => s.act('role:bad'))).to.equal('ACTION_FAILED')
    })

    it('keeps the first settlement of a thenable that resolves and then throws', async () => {
      const s = make()
      s.add('role:odd', () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        then(ok: (v: unknown) => void) {
          ok('first')
          throw new Error('after the fact')
        },
      }))
      expect(await s.act('role:odd')).to.equal('first')
    })
  })

  describe('time limits', () => {
    const never = () => new Promise(() => undefined)
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '100', null, {}]) {
      it(`replaces a call option timeoutMs of ${String(bad)} by the default, so the call still times out`, async () => {
        const s = make({ timeoutMs: 40 })
        s.add('role:never', never)
        expect(await outcome(() => s.act('role:never', {}, { timeoutMs: bad as number }))).to.equal('TIMEOUT')
      })
    }

    it('replaces an invalid timeoutMs of a nested call by the deadline it inherits', async () => {
      const s = make({ timeoutMs: 40 })
      s.add('role:never', never)
      let inner: Promise<unknown> | undefined
      s.add('role:outer', (_m, ctx) => {
        inner = ctx.act('role:never', {}, { timeoutMs: Number.NaN })
        inner.catch(() => undefined)
        return 'started'
      })
      expect(await s.act('role:outer')).to.equal('started')
      expect(await outcome(() => inner!)).to.equal('TIMEOUT')
    })

    it('gives a task sent with an invalid timeoutMs the default deadline', async () => {
      const s = make({ timeoutMs: 40 })
      let deadline: unknown
      s.add('task:fuzz.item.make', (_m, ctx) => {
        deadline = ctx.deadline
      })
      await s.ready()
      const before = Date.now()
      await s.send('fuzz.item.make', {}, { timeoutMs: Number.NaN })
      await s.send('fuzz.item.make', {}, { timeoutMs: Number.POSITIVE_INFINITY })
      expect(deadline)
        .to.be.a('number')
        .within(before, Date.now() + 40)
    })

    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 0, -1, '100']) {
      it(`refuses an instance or action timeoutMs (or graceMs below 0) of ${String(bad)} at startup with INVALID_OPTIONS`, () => {
        expect(() => make({ timeoutMs: bad as number }))
          .to.throw(StoaError)
          .with.property('code', 'INVALID_OPTIONS')
        if (bad !== 0) {
          expect(() => make({ graceMs: bad as number }))
            .to.throw(StoaError)
            .with.property('code', 'INVALID_OPTIONS')
        }
        expect(() => make().add('role:x', () => 1, { timeoutMs: bad as number }))
          .to.throw(StoaError)
          .with.property('code', 'INVALID_OPTIONS')
      })
    }
  })

  describe('patterns that print alike', () => {
    it('keeps apart patterns whose keys and values hold quotes, colons and commas', async () => {
      const s = make()
      s.add({ a: 'x', '"': 'x' }, () => 'first')
      s.add({ '":x,a': 'x' }, () => 'second')
      expect(await s.act({ a: 'x', '"': 'x' })).to.equal('first')
      expect(await s.act({ '":x,a': 'x' })).to.equal('second')
      expect(s.list().map((a) => a.key)).to.have.length(2)
    })

    it('treats true and "true" as one pattern, since values compare as strings: the last added runs', async () => {
      const s = make()
      s.add({ a: true }, () => 'first')
      s.add({ a: 'true' }, () => 'second')
      s.add({ a: true }, () => 'third')
      expect(await s.act({ a: true })).to.equal('third')
      expect(await s.act({ a: 'true' })).to.equal('third')
      expect(s.list()).to.have.length(1)
    })

    it('treats 1 and "1" as one pattern, but keeps "1.0" apart', async () => {
      const s = make()
      s.add({ n: 1 }, () => 'number')
      s.add({ n: '1' }, () => 'string')
      s.add({ n: '1.0' }, () => 'other')
      expect(await s.act({ n: 1 })).to.equal('string')
      expect(await s.act({ n: '1.0' })).to.equal('other')
      expect(s.list()).to.have.length(2)
    })
  })
})
