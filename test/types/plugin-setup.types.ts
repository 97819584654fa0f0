// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, and every other line must compile. Both plugin forms: the object form (actions,
// hooks and init apart) and the setup form (one closure per loading, with a handle).
import { z } from 'zod'
import type { Logger, TransportObserver } from '../../actions/index.js'
import { action, createStoa, definePlugin } from '../../actions/index.js'
import metrics from '../../plugins/metrics/index.js'
import { createHttpTransport } from '../../transports/http/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assertType = <T extends true>(_: T) => undefined

// The object form, unchanged: for plugins with no state shared between their parts.
const plain = definePlugin({
  name: 'plain',
  options: z.object({ greeting: z.string().default('hello') }),
  actions: (options) => ({ 'role:greet': () => ({ text: options.greeting }) }),
  hooks: { inbound: (next) => next },
  init: (stoa) => {
    assertType<Equal<typeof stoa.log, Logger>>(true)
  },
})

// The setup form: its options typed, a host with the service's name and log, typed actions
// and a typed handle.
const counter = definePlugin({
  name: 'counter',
  options: z.object({ step: z.number().default(1), label: z.string() }),
  setup: (options, host) => {
    assertType<Equal<typeof options.step, number>>(true)
    assertType<Equal<typeof host.name, string>>(true)
    assertType<Equal<typeof host.log, Logger>>(true)
    let n = 0
    const observer: TransportObserver = { received: () => void (n += options.step) }
    return {
      actions: {
        'role:count,cmd:get': action({ schema: z.object({ reset: z.boolean().optional() }), handler: () => ({ n }) }),
      },
      hooks: {
        inbound: (next) => (msg, ctx) => {
          n += options.step
          return next(msg, ctx)
        },
      },
      observe: () => observer,
      init: (stoa) => {
        stoa.log.info({ label: options.label }, 'counting')
      },
      handle: { count: () => n, label: options.label },
    }
  },
})

export async function checks() {
  const app = createStoa().use(plain).use(counter, { label: 'calls' })
  const got = await app.act('role:count,cmd:get', {})
  assertType<Equal<typeof got, { n: number }>>(true)
  // @ts-expect-error reset is a boolean
  await app.act('role:count,cmd:get', { reset: 'yes' })
  const handle = app.handleOf(counter)
  assertType<Equal<ReturnType<typeof handle.count>, number>>(true)
  // @ts-expect-error the handle has no such member
  handle.total()
  // An object-form plugin gives no handle.
  assertType<Equal<ReturnType<typeof app.handleOf<typeof plain>>, undefined>>(true)
  // @ts-expect-error label is a required option of the setup form too
  createStoa().use(counter)
  // @ts-expect-error setup's options are typed: step is a number
  createStoa().use(counter, { label: 'x', step: 'two' })

  // The metrics plugin's handle: its endpoint, web middleware and transport observer.
  const m = createStoa().use(metrics).handleOf(metrics)
  createHttpTransport({ endpoints: { '/metrics': m.endpoint } })
  m.observe('amqp').retried('send', 2)
  // @ts-expect-error an observer's methods take what a transport reports
  m.observe('amqp').deadLettered('send', 3)
}

// @ts-expect-error a setup-form plugin returns its actions from setup, not beside it
definePlugin({ name: 'both', setup: () => ({}), actions: { 'role:x': () => 1 } })

// @ts-expect-error setup returns an object of parts
definePlugin({ name: 'bad', setup: () => 42 })

// @ts-expect-error an inbound hook returns the step to run
definePlugin({ name: 'hooks-typed', setup: () => ({ hooks: { inbound: () => 42 } }) })
