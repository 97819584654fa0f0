import { expect } from 'chai'
import type { Hooks, Identity, Message } from '../../actions/index.js'
import { createStoa, definePlugin, StoaError } from '../../actions/index.js'
import { Registry } from '../../actions/registry.js'
import { createMemoryBus, createMemoryTransport } from '../../transports/memory/index.js'
import { waitFor } from '../helpers/wait.js'

/** A plugin whose inbound hook writes `name:in` and `name:out` around each call. */
function tracing(name: string, log: string[]) {
  return definePlugin({
    name,
    hooks: {
      inbound: (next) => async (msg, ctx) => {
        log.push(`${name}:in`)
        try {
          return await next(msg, ctx)
        } finally {
          log.push(`${name}:out`)
        }
      },
    },
  })
}

describe('call-path hooks', () => {
  it('wrap a call in the order their plugins were used, the first outermost', async () => {
    const log: string[] = []
    const stoa = createStoa()
      .use(tracing('first', log))
      .use(tracing('second', log))
      .add('role:x', () => {
        log.push('action')
        return { ok: true }
      })
    expect(await stoa.act('role:x')).to.deep.equal({ ok: true })
    expect(log).to.deep.equal(['first:in', 'second:in', 'action', 'second:out', 'first:out'])
  })

  it('wrap actions registered before the hook was added', async () => {
    const log: string[] = []
    const stoa = createStoa().add('role:x', () => 'done')
    stoa.use(tracing('late', log))
    expect(await stoa.act('role:x')).to.equal('done')
    expect(log).to.deep.equal(['late:in', 'late:out'])
  })

  it('refuse a call with a StoaError, and the action does not run', async () => {
    let ran = false
    const guard = definePlugin({
      name: 'guard',
      hooks: {
        inbound: (next) => (msg, ctx) => {
          if (ctx.token === undefined) throw new StoaError('UNAUTHENTICATED', 'a token is required')
          return next(msg, ctx)
        },
      },
    })
    const stoa = createStoa()
      .use(guard)
      .add('role:x', () => {
        ran = true
      })
    const err = (await stoa.act('role:x').catch((e: unknown) => e)) as StoaError
    expect(err).to.be.instanceOf(StoaError)
    expect(err.code).to.equal('UNAUTHENTICATED')
    expect(ran).to.equal(false)
    await stoa.act('role:x', {}, { token: 't' })
    expect(ran).to.equal(true)
  })

  it('set ctx.identity, which the action sees and a nested act inherits without the hook verifying again', async () => {
    let verified = 0
    const identity: Identity = { sub: 'u1', roles: ['voter'], claims: { sub: 'u1' } }
    const auth = definePlugin({
      name: 'auth',
      hooks: {
        inbound: (next) => (msg, ctx) => {
          if (ctx.identity === undefined && ctx.token !== undefined) {
            verified++
            ctx.identity = identity
          }
          return next(msg, ctx)
        },
      },
    })
    const seen: (Identity | undefined)[] = []
    const stoa = createStoa()
      .use(auth)
      .add('role:inner', (_m, ctx) => {
        seen.push(ctx.identity)
        return null
      })
      .add('role:outer', async (_m, ctx) => {
        seen.push(ctx.identity)
        await ctx.act('role:inner')
        return null
      })
    await stoa.act('role:outer', {}, { token: 'abc' })
    expect(seen).to.deep.equal([identity, identity])
    expect(verified).to.equal(1)
  })

  it('see the action declared options, once per action, not per call', async () => {
    const composed: string[] = []
    const needs: (string | undefined)[] = []
    const hooks: Hooks = {
      inbound: (next, action) => {
        composed.push(action.key)
        return (msg, ctx) => {
          needs.push(action.permission)
          return next(msg, ctx)
        }
      },
    }
    const stoa = createStoa()
      .add('role:a', () => 1, { permission: 'a:read' })
      .use(definePlugin({ name: 'perm', hooks }))
      .add('role:b', { handler: () => 2, public: true })
    await stoa.act('role:a')
    await stoa.act('role:a')
    await stoa.act('role:b')
    expect(composed).to.deep.equal(['role:a', 'role:b'])
    expect(needs).to.deep.equal(['a:read', 'a:read', undefined])
    expect(stoa.find('role:b')!.options.public).to.equal(true)
  })

  it('run before validation, so a refusal comes before INVALID_MESSAGE', async () => {
    const { z } = await import('zod')
    const deny = definePlugin({
      name: 'deny',
      hooks: {
        inbound: () => () => {
          throw new StoaError('FORBIDDEN', 'no')
        },
      },
    })
    const stoa = createStoa()
      .use(deny)
      .add('role:x', { schema: z.object({ n: z.number() }), handler: (m: Message) => m })
    const err = (await stoa.act('role:x', { n: 'not a number' }).catch((e: unknown) => e)) as StoaError
    expect(err.code).to.equal('FORBIDDEN')
  })

  it('wrap tasks and event subscribers too', async () => {
    const log: string[] = []
    const stoa = createStoa({ name: 'tally' }).use(tracing('h', log))
    stoa.add('task:tally.vote.record', () => {
      log.push('task')
    })
    stoa.on('vote.recorded', () => {
      log.push('event')
    })
    await stoa.send('tally.vote.record', {})
    await waitFor(() => log.includes('task'), 'the task')
    await stoa.emit('vote.recorded', {})
    await waitFor(() => log.includes('event'), 'the event')
    expect(log).to.deep.equal(['h:in', 'task', 'h:out', 'h:in', 'event', 'h:out'])
  })

  it('do not run again for ctx.prior, which extends the same call', async () => {
    const log: string[] = []
    const stoa = createStoa()
      .use(tracing('h', log))
      .add('role:x', () => 'base')
      .add('role:x', async (_m, ctx) => `wrapped ${String(await ctx.prior())}`)
    expect(await stoa.act('role:x')).to.equal('wrapped base')
    expect(log).to.deep.equal(['h:in', 'h:out'])
  })

  it('wrap calls that leave through a client transport, with the calling context', async () => {
    const bus = createMemoryBus()
    const server = createStoa({ name: 'math' })
      .add('role:math', (_m, ctx) => ({ token: ctx.token }))
      .listen(createMemoryTransport({ bus }))
    const targets: string[] = []
    const exchange = definePlugin({
      name: 'exchange',
      hooks: {
        outbound: (next, target) => {
          targets.push(target.transport)
          return (e, ctx) => next({ ...e, meta: { ...e.meta, token: `exchanged-for-${ctx?.pattern ?? 'root'}` } }, ctx)
        },
      },
    })
    const client = createStoa({ name: 'gateway' })
      .client(createMemoryTransport({ bus }), ['role:math'])
      .use(exchange)
      .add('role:gw', (_m, ctx) => ctx.act('role:math'))
    await server.ready()
    try {
      expect(await client.act('role:math')).to.deep.equal({ token: 'exchanged-for-root' })
      expect(await client.act('role:gw')).to.deep.equal({ token: 'exchanged-for-role:gw' })
      expect(targets).to.deep.equal(['memory'])
    } finally {
      await client.close()
      await server.close()
    }
  })

  it('are listed with their plugin, outermost first', () => {
    const stoa = createStoa()
      .use(tracing('a', []))
      .use(definePlugin({ name: 'b', hooks: { outbound: (next) => next } }))
    expect(stoa.listHooks()).to.deep.equal([
      { plugin: 'a', inbound: true, outbound: false },
      { plugin: 'b', inbound: false, outbound: true },
    ])
  })

  it('cost nothing when there are none: the action itself is what a call runs', () => {
    const registry = new Registry()
    const handler = () => 1
    registry.addAction({ role: 'x' }, { handler }, undefined)
    expect(registry.local.find({ role: 'x' })!.data.run).to.equal(handler)
    registry.addHooks('noop', { inbound: (next) => (msg, ctx) => next(msg, ctx) })
    expect(registry.local.find({ role: 'x' })!.data.run).not.to.equal(handler)
  })
})
