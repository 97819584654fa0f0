// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, and every other line must compile, or the type check fails.
import { z } from 'zod'
import type { Message, PluginHost } from '../../actions/index.js'
import { action, createStoa, definePlugin } from '../../actions/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_: T) => undefined

const math = definePlugin({
  name: 'math',
  actions: {
    'role:math,cmd:sum': action({
      schema: z.object({ left: z.number(), right: z.number() }),
      handler: (msg) => ({ answer: msg.left + msg.right }),
    }),
    'role:math,cmd:describe': action({
      schema: z.object({ verbose: z.boolean().optional() }),
      handler: async () => 'math',
    }),
    'role:math,cmd:raw': (msg) => Object.keys(msg).length,
    'role:flag,on:true': () => 1,
  },
})

const withOptions = definePlugin({
  name: 'db',
  options: z.object({ url: z.string(), poolMax: z.number().default(4) }),
  init: (_stoa, opts) => {
    assertType<Equal<typeof opts.poolMax, number>>(true)
  },
})

const optionalOptions = definePlugin({ name: 'opt', options: z.object({ level: z.string().default('info') }) })

export async function checks() {
  const app = createStoa().use(math)

  // The message is checked and the result inferred for a known pattern.
  const sum = await app.act('role:math,cmd:sum', { left: 1, right: 2 })
  assertType<Equal<typeof sum, { answer: number }>>(true)
  // @ts-expect-error left must be a number
  await app.act('role:math,cmd:sum', { left: '1', right: 2 })
  // @ts-expect-error right is required
  await app.act('role:math,cmd:sum', { left: 1 })
  // @ts-expect-error the message is required when the schema has required fields
  await app.act('role:math,cmd:sum')
  // The error is reported at the wrong field itself, not at the call (TypeScript 5.9 and 7):
  // each @ts-expect-error below sits on the field's line, so an error anywhere else fails.
  await app.act('role:math,cmd:sum', {
    left: 1,
    // @ts-expect-error rigth is not a field of the message (right is)
    rigth: 2,
  })
  await app.act('role:math,cmd:sum', {
    // @ts-expect-error left must be a number
    left: 'one',
    right: 2,
  })
  // The object form reaching a known action compiles, its result unknown.
  const loose = await app.act({ role: 'math', cmd: 'sum', left: 1, right: 2 })
  assertType<Equal<typeof loose, unknown>>(true)
  // A misspelt known pattern in object form is refused as the string form is, the error on
  // the misspelt field's line (TypeScript 5.9 and 7), naming the values the role's patterns take.
  await app.act({
    role: 'math',
    // @ts-expect-error role:math has no cmd:summ (sum, describe or raw)
    cmd: 'summ',
    left: 1,
    right: 2,
  })
  // @ts-expect-error every known pattern of role:math has a cmd, and this one has none
  await app.act({ role: 'math', left: 1, right: 2 })
  // A pair's value is read as the pattern string spells it: precise:true is { precise: true }.
  await app.act({ role: 'math', cmd: 'sum', precise: true, left: 1, right: 2 })
  await app.act({ role: 'flag', on: true })
  // @ts-expect-error role:flag has only on:true
  await app.act({ role: 'flag', on: false })
  // Open as the string form is: a role with no known pattern, no role, a value known only at
  // run time, a message typed as any message.
  await app.act({ role: 'other', cmd: 'summ' })
  await app.act({ cmd: 'summ' })
  const cmd: string = 'remote'
  await app.act({ role: 'math', cmd })
  const message: Message = { role: 'math', cmd: 'remote' }
  await app.act(message)
  const role: string = 'math'
  await app.act({ role, cmd: 'summ' })
  // Data known only at run time leaves the pattern's own fields checked.
  const left: number = 1
  // @ts-expect-error role:math has no cmd:summ, whatever the data
  await app.act({ role: 'math', cmd: 'summ', left })
  // A misspelt pattern of a known role: only the role's known patterns are offered.
  // @ts-expect-error role:math has no cmd:summ
  await app.act('role:math,cmd:summ', { left: 1, right: 2 })
  // @ts-expect-error role:math has no cmd:sum2
  await app.act('role:math,cmd:sum2')
  // More pairs or another order still reach the known action, and stay open.
  await app.act('role:math,cmd:sum,precise:true', { left: 1, right: 2 })
  await app.act('cmd:sum,role:math', { left: 1, right: 2 })
  // A pattern of a known role answered elsewhere passes as a string.
  const elsewhere: string = 'role:math,cmd:remote'
  await app.act(elsewhere, { left: 1 })

  // An instance of known actions is what a plugin's init is given.
  const host: PluginHost = app
  await host.act('role:math,cmd:summ', { left: 1 })

  // Optional fields make the message optional; async handlers resolve to their value.
  const described = await app.act('role:math,cmd:describe')
  assertType<Equal<typeof described, string>>(true)

  // Plain function actions accept any message and infer the result.
  const raw = await app.act('role:math,cmd:raw', { anything: true })
  assertType<Equal<typeof raw, number>>(true)

  // Unknown patterns stay open: any message, unknown result.
  const other = await app.act('role:other,cmd:x', { free: 1 })
  assertType<Equal<typeof other, unknown>>(true)

  // Actions added with add() and action() join the known types.
  const more = createStoa().add(
    'role:text,cmd:upper',
    action({ schema: z.object({ text: z.string() }), handler: (m) => m.text.toUpperCase() }),
  )
  const upper = await more.act('role:text,cmd:upper', { text: 'a' })
  assertType<Equal<typeof upper, string>>(true)
  // @ts-expect-error text must be a string
  await more.act('role:text,cmd:upper', { text: 1 })

  // Required plugin options are required at compile time.
  createStoa().use(withOptions, { url: 'postgres://127.0.0.1/test' })
  // @ts-expect-error options with a required field must be passed
  createStoa().use(withOptions)
  // @ts-expect-error the url option must be a string
  createStoa().use(withOptions, { url: 5 })
  createStoa().use(optionalOptions)
  createStoa().use(optionalOptions, { level: 'debug' }, { tag: 'x' })

  // A Seneca plugin function names its engine; a stoa plugin has none to name.
  const senecaPlugin = function greet(this: { add: Function }) {}
  createStoa().use(senecaPlugin, {}, { engine: 'seneca', tag: 'x' })
  createStoa().use(senecaPlugin, {}, { engine: 'stoa' })
  // @ts-expect-error the engine is 'stoa' or 'seneca'
  createStoa().use(senecaPlugin, {}, { engine: 'real' })
  // @ts-expect-error a definePlugin plugin always runs on the kernel
  createStoa().use(optionalOptions, {}, { engine: 'seneca' })

  // A handler's message is the schema's output.
  action({
    schema: z.object({ n: z.string().transform((s) => s.length) }),
    handler: (msg) => {
      assertType<Equal<typeof msg.n, number>>(true)
    },
  })
}

/** Result schemas: the result type is the schema's, and a handler returning something else does not compile. */
export async function resultChecks() {
  const typed = createStoa().add(
    'role:shop,cmd:price',
    action({
      schema: z.object({ sku: z.string() }),
      result: z.object({ cents: z.number().int(), currency: z.enum(['EUR', 'USD']) }),
      handler: () => ({ cents: 120, currency: 'EUR' as const }),
    }),
  )
  const price = await typed.act('role:shop,cmd:price', { sku: 'a1' })
  assertType<Equal<typeof price, { cents: number; currency: 'EUR' | 'USD' }>>(true)

  // @ts-expect-error the result schema says cents is a number
  action({ result: z.object({ cents: z.number() }), handler: () => ({ cents: '120' }) })
  const sku = z.object({ sku: z.string() })
  const cents = z.object({ cents: z.number() })
  // @ts-expect-error an async handler is held to the result schema too
  action({ schema: sku, result: cents, handler: async () => ({ p: 1 }) })
  // The same shapes with a right result compile.
  action({ result: z.object({ cents: z.number() }), handler: () => ({ cents: 120 }) })
  action({
    schema: z.object({ sku: z.string() }),
    result: z.object({ cents: z.number() }),
    handler: async () => ({ cents: 1 }),
  })
}
