import { expect } from 'chai'
import fc from 'fast-check'
import type { Message, Stoa } from '../../actions/index.js'
import { createStoa, ERROR_CODES, parsePattern, patternString, StoaError, toPattern } from '../../actions/index.js'
import { quietLogger } from '../helpers/wait.js'

/*
 * Property tests of the kernel's public API on random input (issue 19, item 10). fast-check
 * shrinks a failure and prints its seed; `fc.assert(..., { seed, path })` replays it. Each
 * property is bounded to a few seconds: calls answer within the instance's 15 ms limit.
 */

const LIMIT_MS = 15
/** How long a call may take to settle before the property calls it hung: far past LIMIT_MS. */
const HUNG_MS = 2000
const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES)

/** Characters that once made two patterns print alike, and a few ordinary ones. */
const tricky = fc.string({
  unit: fc.constantFrom('a', 'b', '"', "'", ':', ',', ' ', '\\', '1', '.', '{', 't'),
  maxLength: 6,
})
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype', 'task'])
/** Few letters, so that keys and values recur across patterns and strings of pairs can meet. */
const small = fc.string({ unit: fc.constantFrom('a', 'x', '"', ':', ','), maxLength: 5 })
const key = fc
  .oneof({ arbitrary: fc.constantFrom('a', 'b', '"'), weight: 3 }, small, tricky, fc.string({ maxLength: 8 }))
  .filter((k) => !FORBIDDEN.has(k))
/** Pattern values without glob characters, so a message made of a pattern matches it exactly. */
const exactValue = fc.oneof(
  { arbitrary: fc.constantFrom<string | number | boolean>('x', true, 'true', 1, '1'), weight: 3 },
  small,
  tricky,
  fc.constantFrom('false', '1.0', '-0', 'null', ''),
  fc.integer({ min: -3, max: 12 }),
  fc.boolean(),
)
const exactPattern = fc.dictionary(key, exactValue, { minKeys: 1, maxKeys: 3, noNullPrototype: true })

/** A pattern's pairs as the router compares them: every value as text. */
const textOf = (p: Readonly<Record<string, unknown>>) =>
  JSON.stringify(
    Object.keys(p)
      .sort()
      .map((k) => [k, String(p[k])]),
  )

/** What an action does when called: the behaviours a caller's action may have, hostile ones included. */
const behaviour = fc.constantFrom(
  'value',
  'undefined',
  'throw',
  'throw-stoa',
  'throw-null',
  'reject',
  'never',
  'then-throws',
  'then-getter-throws',
  'then-twice',
  'big-int',
)

function actionOf(kind: string): () => unknown {
  switch (kind) {
    case 'value':
      return () => ({ ok: true })
    case 'undefined':
      return () => undefined
    case 'throw':
      return () => {
        throw new Error('boom')
      }
    case 'throw-stoa':
      return () => {
        throw new StoaError('FORBIDDEN', 'no')
      }
    case 'throw-null':
      return () => {
        throw null
      }
    case 'reject':
      return () => Promise.reject(new TypeError('async boom'))
    case 'never':
      return () => new Promise(() => undefined)
    case 'then-throws':
      // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
      return () => ({ then: () => thrower() })
    case 'then-getter-throws':
      return () =>
        Object.defineProperty({}, 'then', {
          get: thrower,
        })
    case 'then-twice':
      return () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        then(ok: (v: unknown) => void, fail: (e: unknown) => void) {
          ok(1)
          fail(new Error('late'))
          ok(2)
        },
      })
    default:
      return () => 10n
  }
}

function thrower(): never {
  throw new Error('hostile')
}

/** Anything a caller could pass, odd objects included. */
const garbage = fc.anything({ withNullPrototype: true, withBoxedValues: true, withSparseArray: true, maxDepth: 2 })
const timeoutMs = fc.oneof(
  fc.integer({ min: -5, max: LIMIT_MS * 2 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, undefined, '10', -0),
  fc.constant({}),
)
const options = fc.oneof(
  fc.constantFrom(undefined, null, 5, 'x'),
  fc.record(
    { timeoutMs, id: fc.oneof(fc.string(), garbage), trace: fc.string(), caller: fc.string(), token: fc.string() },
    { requiredKeys: [] },
  ),
)
const patternArg = fc.oneof(
  exactPattern,
  fc.constantFrom('role:fuzz,cmd:a', 'role:fuzz', 'role:', 'role:fuzz,cmd:*', '', ':'),
  tricky,
  garbage,
)
const taskName = fc.oneof(fc.constantFrom('fuzz.item.make', 'fuzz.item.none', 'Bad.Name', ''), fc.string(), garbage)
const eventName = fc.oneof(fc.constantFrom('item.made', 'item.make', 'x'), fc.string(), garbage)

/** Settles a call that must never throw synchronously nor hang, to a label of its outcome. */
async function settle(call: () => unknown): Promise<string> {
  let p: unknown
  try {
    p = call()
  } catch (err) {
    return `threw synchronously: ${safe(err)}`
  }
  if (!(p instanceof Promise)) return 'did not return a promise'
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('never settled'), HUNG_MS)))
  const out = await Promise.race([
    p.then(
      () => 'ok',
      (err: unknown) =>
        err instanceof StoaError && KNOWN.has(err.code) ? err.code : `rejected with a raw error: ${safe(err)}`,
    ),
    hung,
  ])
  clearTimeout(timer)
  return out
}

function safe(err: unknown): string {
  try {
    return String(err)
  } catch {
    return typeof err
  }
}

const ok = (label: string) => label === 'ok' || KNOWN.has(label)

/** An instance with random patterns and behaviours registered; a refused registration must be a StoaError. */
function instance(defs: readonly [Record<string, unknown>, string][]): Stoa<any> {
  const s = createStoa({ name: 'fuzz', logger: quietLogger(), timeoutMs: LIMIT_MS })
  s.add('role:fuzz,cmd:a', () => 'a')
  s.add('task:fuzz.item.make', () => 'made')
  s.on('item.made', () => undefined)
  for (const [pattern, kind] of defs) {
    try {
      s.add(pattern as Message, actionOf(kind))
    } catch (err) {
      expect(err).to.be.instanceOf(StoaError)
    }
  }
  return s
}

describe('actions/kernel properties', function () {
  this.timeout(20_000)
  const opened: Stoa<any>[] = []
  after(async () => {
    for (const s of opened) await s.close()
  })

  it('settles every act, send and emit with a result or a StoaError of a known code', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(exactPattern, behaviour), { maxLength: 6 }),
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant('act'), patternArg, fc.oneof(fc.constant(undefined), garbage), options),
            fc.tuple(fc.constant('send'), taskName, fc.oneof(fc.constant(undefined), garbage), options),
            fc.tuple(fc.constant('emit'), eventName, fc.oneof(fc.constant(undefined), garbage), options),
          ),
          { minLength: 1, maxLength: 8 },
        ),
        fc.boolean(),
        async (defs, calls, started) => {
          const s = instance(defs)
          opened.push(s)
          if (started) await s.ready()
          // Every registered pattern is also called, so each behaviour runs.
          const all: [string, unknown, unknown, unknown][] = [
            ...calls,
            ...defs.map(([p]) => ['act', p, undefined, undefined] as [string, unknown, unknown, unknown]),
          ]
          const labels = await Promise.all(
            all.map(([kind, target, data, opts]) =>
              settle(() => (s as any)[kind](target, data, opts) as Promise<unknown>),
            ),
          )
          for (const label of labels) expect(ok(label), label).to.equal(true)
          await s.close()
        },
      ),
      { numRuns: 120 },
    )
  })

  it('never lets two different patterns share an action, and runs what was added last for a pattern', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(exactPattern, { minLength: 1, maxLength: 12 }), async (patterns) => {
        const s = createStoa({ name: 'fuzz', logger: quietLogger() })
        opened.push(s)
        for (const [i, p] of patterns.entries()) s.add(p, () => i)
        const last = new Map<string, number>()
        for (const [i, p] of patterns.entries()) last.set(textOf(p), i)
        expect(s.list()).to.have.length(last.size)
        for (const p of patterns) expect(await s.act({ ...p })).to.equal(last.get(textOf(p)))
        await s.close()
      }),
      { numRuns: 500 },
    )
  })

  it('writes one canonical string per pattern, which reads back to the same pairs', () => {
    fc.assert(
      fc.property(exactPattern, exactPattern, (p, q) => {
        const a = patternString(toPattern(p))
        expect(textOf(parsePattern(a))).to.equal(textOf(p))
        expect(a === patternString(toPattern(q))).to.equal(textOf(p) === textOf(q))
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses a malformed pattern string with INVALID_PATTERN, and nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(tricky, fc.string({ maxLength: 20 })), (text) => {
        try {
          toPattern(text)
        } catch (err) {
          expect(err).to.be.instanceOf(StoaError)
          expect((err as StoaError).code).to.equal('INVALID_PATTERN')
        }
      }),
      { numRuns: 2000 },
    )
  })
})
