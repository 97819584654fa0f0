import { expect } from 'chai'
import { z } from 'zod'
import type { Context } from '../../actions/index.js'
import { action, createStoa, StoaError } from '../../actions/index.js'
import { tapTransport } from '../fixtures/tap.js'
import { quietLogger, waitFor } from '../helpers/wait.js'

const make = (opts: Parameters<typeof createStoa>[0] = {}) => createStoa({ logger: quietLogger(), ...opts })
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof StoaError ? e.code : `not a StoaError: ${String(e)}`),
  )

describe('actions/kernel', () => {
  describe('add and act', () => {
    it('runs the most specific matching action with the message', async () => {
      const s = make()
      s.add('role:math', () => 'general')
      s.add('role:math,cmd:sum', (m) => Number(m.left) + Number(m.right))
      expect(await s.act('role:math,cmd:sum', { left: 1, right: 2 })).to.equal(3)
      expect(await s.act({ role: 'math', cmd: 'sum', left: 2, right: 2 })).to.equal(4)
      expect(await s.act('role:math,cmd:sum,left:5,right:1')).to.equal(6)
      expect(await s.act('role:math,cmd:other')).to.equal('general')
    })

    it('rejects with NOT_FOUND when nothing matches', async () => {
      expect(await codeOf(make().act('role:none'))).to.equal('NOT_FOUND')
    })

    it('names in NOT_FOUND only the pairs patterns use, never the rest of the message', async () => {
      const s = make()
      s.add('role:user,cmd:create', () => 'ok')
      const sent = { role: 'user', cmd: 'craete', email: 'ann@example.com', password: 'hunter2', zip: '12345' }
      const err = await s.act(sent).then(
        () => undefined,
        (e: unknown) => e as StoaError,
      )
      expect(err?.toJSON()).to.deep.equal({
        code: 'NOT_FOUND',
        message: 'no action matches "cmd:craete,role:user"',
        details: { pattern: 'cmd:craete,role:user' },
      })
      const none = await make()
        .act({ password: 'hunter2' })
        .catch((e: unknown) => e as StoaError)
      expect(JSON.stringify(none)).to.not.include('hunter2')
      // A routing key's value too long to be a pattern value is data: left out.
      const long = await s.act({ role: 'x'.repeat(200), cmd: 'create' }).catch((e: unknown) => e as StoaError)
      expect((long as StoaError).message).to.equal('no action matches "cmd:create"')
    })

    it('answers an act outside a listener’s pins with NOT_FOUND naming the pins’ pairs only', async () => {
      const tap = tapTransport()
      const s = make({ name: 'users' }).listen(tap, ['role:user,cmd:create'])
      s.add('role:user,cmd:create', () => 'ok')
      s.add('role:user,cmd:delete', () => 'gone')
      await s.ready()
      const msg = { role: 'user', cmd: 'delete', id: 'u1', password: 'hunter2' }
      const reply = await tap.host.dispatch({ kind: 'act', msg, meta: { id: 'i1', trace: 't1' } })
      expect(reply).to.deep.equal({
        ok: false,
        error: {
          code: 'NOT_FOUND',
          message: 'no action this listener serves matches "cmd:delete,role:user"',
          details: { pattern: 'cmd:delete,role:user' },
        },
      })
      await s.close()
    })

    it('answers an envelope from a transport with NOT_FOUND that echoes no data', async () => {
      const tap = tapTransport()
      const s = make({ name: 'users' }).listen(tap)
      s.add('role:user,cmd:create', () => 'ok')
      await s.ready()
      const meta = { id: 'i1', trace: 't1' }
      const reply = await tap.host.dispatch({ kind: 'act', msg: { role: 'user', cmd: 'x', password: 'hunter2' }, meta })
      expect(reply).to.deep.equal({
        ok: false,
        error: {
          code: 'NOT_FOUND',
          message: 'no action matches "cmd:x,role:user"',
          details: { pattern: 'cmd:x,role:user' },
        },
      })
      await s.close()
    })

    it('turns a malformed pattern string into a rejection, not a throw', async () => {
      const s = make()
      const p = s.act('role:', {})
      expect(await codeOf(p)).to.equal('INVALID_PATTERN')
    })

    it('answers has, find and list', () => {
      const s = make()
      s.add('role:math,cmd:sum', () => 0, { permission: 'math:use', description: 'adds' })
      s.add('role:math,cmd:product', () => 0)
      expect(s.has('cmd:sum,role:math')).to.equal(true)
      expect(s.has('role:math')).to.equal(false)
      expect(s.find('role:math,cmd:sum,left:1')?.key).to.equal('cmd:sum,role:math')
      expect(s.find('role:math', { exact: true })).to.equal(undefined)
      expect(s.find('role:math,cmd:sum')?.permission).to.equal('math:use')
      expect(s.list('role:math').map((a) => a.key)).to.deep.equal(['cmd:product,role:math', 'cmd:sum,role:math'])
    })
  })

  describe('prior', () => {
    it('lets an action on the same pattern wrap the one it replaces', async () => {
      const s = make()
      s.add('role:math,cmd:sum', (m) => ({ answer: Number(m.left) + Number(m.right) }))
      s.add('role:math,cmd:sum', async (m, ctx) => ({
        ...((await ctx.prior({ ...m, left: Number(m.left) * 10 })) as object),
        wrapped: true,
      }))
      expect(await s.act('role:math,cmd:sum', { left: 1, right: 2 })).to.deep.equal({ answer: 12, wrapped: true })
    })

    it('lets a more specific pattern call the less specific action it overrides', async () => {
      const s = make()
      s.add('role:math,cmd:sum', (m) => Number(m.left) + Number(m.right))
      s.add('role:math,cmd:sum,integer:true', (m, ctx) =>
        ctx.prior({ ...m, left: Math.floor(Number(m.left)), right: Math.floor(Number(m.right)) }),
      )
      expect(await s.act('role:math,cmd:sum,integer:true', { left: 1.5, right: 2.5 })).to.equal(3)
      expect(await s.act('role:math,cmd:sum', { left: 1.5, right: 2.5 })).to.equal(4)
    })

    it('chains priors three deep and ends in NOT_FOUND past the first', async () => {
      const s = make()
      s.add('a:1', () => ['base'])
      s.add('a:1', async (_m, ctx) => ['mid', ...((await ctx.prior()) as string[])])
      s.add('a:1', async (_m, ctx) => ['top', ...((await ctx.prior()) as string[])])
      expect(await s.act('a:1')).to.deep.equal(['top', 'mid', 'base'])
      const t = make()
      t.add('b:1', (_m, ctx) => ctx.prior())
      expect(await codeOf(t.act('b:1'))).to.equal('NOT_FOUND')
    })
  })

  describe('schemas', () => {
    const sum = action({
      schema: z.object({ left: z.number(), right: z.number().default(0) }),
      handler: (m) => ({ answer: m.left + m.right, role: m.role }),
    })

    it('validates the message and passes the schema output plus the pattern pairs', async () => {
      const s = make().add('role:math,cmd:sum', sum)
      expect(await s.act('role:math,cmd:sum', { left: 2 })).to.deep.equal({ answer: 2, role: 'math' })
    })

    it('does not run the action on an invalid message and names the failing fields', async () => {
      let ran = false
      const s = make().add(
        'role:x',
        action({ schema: z.object({ a: z.string(), b: z.object({ c: z.number() }) }), handler: () => (ran = true) }),
      )
      const err = (await s.act('role:x', { a: 1, b: { c: 'no' } } as never).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('INVALID_MESSAGE')
      expect(err.details).to.deep.equal({ fields: ['a', 'b.c'] })
      expect(ran).to.equal(false)
    })

    it('accepts asynchronous Standard Schema validators', async () => {
      const schema = z
        .object({ n: z.number() })
        .refine(async (v) => v.n > 0, { message: 'must be positive', path: ['n'] })
      const s = make().add('role:async', action({ schema, handler: (m) => m.n * 2 }))
      expect(await s.act('role:async', { n: 2 })).to.equal(4)
      const err = (await s.act('role:async', { n: -1 }).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('INVALID_MESSAGE')
      expect(err.details).to.deep.equal({ fields: ['n'] })
    })
  })

  describe('failures', () => {
    it('turns a thrown error into ACTION_FAILED, logs it with the trace, and keeps serving', async () => {
      const logger = quietLogger()
      const s = make({ logger })
      s.add('role:boom', () => {
        throw new Error('internal detail')
      })
      s.add('role:ok', () => 'fine')
      const err = (await s.act('role:boom', {}, { trace: 'tr-1' }).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('ACTION_FAILED')
      expect(err.message).not.to.include('internal detail')
      expect((err.cause as Error).message).to.equal('internal detail')
      expect(logger.entries.some((e) => e.level === 'error' && e.fields.trace === 'tr-1')).to.equal(true)
      expect(await s.act('role:ok')).to.equal('fine')
    })

    it('turns a rejection into ACTION_FAILED and passes StoaErrors through unchanged', async () => {
      const s = make()
      s.add('role:reject', () => Promise.reject(new TypeError('x')))
      s.add('role:forbid', async () => {
        throw new StoaError('FORBIDDEN', 'no', { need: 'admin' })
      })
      expect(await codeOf(s.act('role:reject'))).to.equal('ACTION_FAILED')
      const err = (await s.act('role:forbid').catch((e: unknown) => e)) as StoaError
      expect([err.code, err.details]).to.deep.equal(['FORBIDDEN', { need: 'admin' }])
    })

    it('never lets a message with prototype keys pollute a prototype', async () => {
      const s = make()
      s.add('role:echo', (m) => m)
      const evil = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}') as Record<
        string,
        unknown
      >
      const out = (await s.act('role:echo', evil)) as Record<string, unknown>
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
      expect(Object.getPrototypeOf(out)).to.equal(Object.prototype)
      expect(await codeOf(s.act('__proto__:x'))).to.equal('INVALID_PATTERN')
    })
  })

  describe('deadlines', () => {
    it('rejects with TIMEOUT at the per-call deadline', async () => {
      const s = make()
      s.add('role:slow', () => new Promise((r) => setTimeout(r, 2000)))
      expect(await codeOf(s.act('role:slow', {}, { timeoutMs: 30 }))).to.equal('TIMEOUT')
    })

    it('uses the instance default and the action default timeouts', async () => {
      const s = make({ timeoutMs: 40 })
      s.add('role:slow', () => new Promise((r) => setTimeout(() => r('done'), 150)))
      s.add('role:patient', () => new Promise((r) => setTimeout(() => r('done'), 150)), { timeoutMs: 2000 })
      expect(await codeOf(s.act('role:slow'))).to.equal('TIMEOUT')
      expect(await s.act('role:patient')).to.equal('done')
    })

    it('times out every pending call, early and late, with one shared timer', async () => {
      const s = make()
      s.add('role:slow', () => new Promise((r) => setTimeout(r, 3000)))
      const codes = await Promise.all([200, 20, 100, 50].map((ms) => codeOf(s.act('role:slow', {}, { timeoutMs: ms }))))
      expect(codes).to.deep.equal(['TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'TIMEOUT'])
    })

    it('accepts a deadline further off than a timer can wait, without a timer firing every millisecond', async () => {
      const s = make()
      s.add('role:later', () => new Promise((r) => setTimeout(() => r('done'), 30)))
      const warnings: string[] = []
      const onWarning = (w: Error) => warnings.push(w.name)
      process.on('warning', onWarning)
      try {
        // A budget of 30 days, as any remote caller may send.
        expect(await s.act('role:later', {}, { timeoutMs: 30 * 24 * 3600 * 1000 })).to.equal('done')
        await new Promise((r) => setImmediate(r))
      } finally {
        process.off('warning', onWarning)
      }
      expect(warnings).to.not.include('TimeoutOverflowWarning')
    })

    it('gives calls fresh deadlines in a turn that never yields, as a batch job awaiting action after action', async () => {
      // A clock of the test's own, moved 1 ms per call: the turn lasts 200 ms, four times each
      // call's limit, without the machine's load deciding when a call happens to be slow.
      let now = 1_000_000
      const clock = {
        now: () => now,
        setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms),
        clearTimer: (t: unknown) => clearTimeout(t as NodeJS.Timeout),
        defer: (fn: () => void) => setImmediate(fn),
      }
      const s = make({ timeoutMs: 50, clock })
      s.add('role:inner', async (m) => m.n)
      s.add('role:outer', async (m, ctx) => ctx.act('role:inner', { n: m.n }))
      await s.ready()
      const codes = new Set<string>()
      // Only microtasks: the turn never ends while the calls run.
      for (let calls = 0; calls < 200; calls++) {
        now += 1
        await s.act('role:outer', { n: calls }).catch((e: StoaError) => codes.add(e.code))
      }
      expect([...codes]).to.deep.equal([])
    })

    it('passes the remaining deadline, trace and token to nested calls', async () => {
      const s = make()
      s.add('role:inner', (_m, ctx) => ({
        trace: ctx.trace,
        token: ctx.token,
        deadline: ctx.deadline,
        caller: ctx.caller,
      }))
      s.add('role:outer', async (_m, ctx) => ({ outer: ctx.deadline, inner: await ctx.act('role:inner') }))
      const out = (await s.act('role:outer', {}, { trace: 'T', token: 'tok', timeoutMs: 5000 })) as {
        outer: number
        inner: Record<string, unknown>
      }
      expect(out.inner.trace).to.equal('T')
      expect(out.inner.token).to.equal('tok')
      expect(out.inner.deadline).to.equal(out.outer)
    })

    it('does not start a nested call whose inherited deadline has passed', async () => {
      const s = make()
      let innerRan = false
      s.add('role:inner', () => (innerRan = true))
      s.add('role:outer', async (_m, ctx) => {
        await new Promise((r) => setTimeout(r, 60))
        return ctx.act('role:inner')
      })
      const outer = s.act('role:outer', {}, { timeoutMs: 30 })
      expect(await codeOf(outer)).to.equal('TIMEOUT')
      await new Promise((r) => setTimeout(r, 60))
      expect(innerRan).to.equal(false)
    })

    it('lets a nested call shorten but never extend its deadline', async () => {
      const s = make()
      s.add('role:inner', (_m, ctx) => ctx.deadline)
      s.add('role:outer', async (_m, ctx) => ({
        own: ctx.deadline,
        longer: await ctx.act('role:inner', {}, { timeoutMs: 60_000 }),
        shorter: await ctx.act('role:inner', {}, { timeoutMs: 10 }),
      }))
      const out = (await s.act('role:outer', {}, { timeoutMs: 1000 })) as Record<string, number>
      expect(out.longer).to.equal(out.own)
      expect(out.shorter).to.be.lessThan(out.own!)
    })

    it('does not run an envelope that arrives after its deadline', async () => {
      const s = make()
      let ran = false
      s.add('role:x', () => (ran = true))
      const tap = tapTransport()
      await s.listen(tap).ready()
      const reply = await tap.host.dispatch({
        kind: 'act',
        msg: { role: 'x' },
        meta: { id: '1', trace: '1', deadline: Date.now() - 1 },
      })
      expect(reply).to.deep.include({ ok: false })
      expect((reply as { error: { code: string } }).error.code).to.equal('TIMEOUT')
      expect(ran).to.equal(false)
    })
  })

  describe('context', () => {
    it('gives each call an id, a trace shared down the chain, and the caller', async () => {
      const s = make({ name: 'svc' })
      const seen: Context[] = []
      s.add('role:b', (_m, ctx) => void seen.push(ctx))
      s.add('role:a', async (_m, ctx) => {
        seen.push(ctx)
        await ctx.act('role:b')
      })
      await s.act('role:a')
      expect(seen[0]!.id).to.not.equal(seen[1]!.id)
      expect(seen[1]!.trace).to.equal(seen[0]!.trace)
      expect(seen[1]!.caller).to.equal('svc')
      expect(seen[0]!.identity).to.equal(undefined)
    })
  })

  it('refuses an action whose declared acts are not pattern strings', () => {
    const s = make()
    expect(() => s.add('role:a,cmd:b', () => 0, { acts: ['role:'] }))
      .to.throw(StoaError, 'action "cmd:b,role:a": acts holds "role:"')
      .with.property('code', 'INVALID_PLUGIN')
    expect(() => s.add('role:a,cmd:b', () => 0, { acts: 'role:x,cmd:y' as never }))
      .to.throw(StoaError, 'acts must be a list of pattern strings')
      .with.property('code', 'INVALID_PLUGIN')
    s.add('role:a,cmd:b', () => 0, { acts: ['role:x,cmd:y'] })
    expect(s.find('role:a,cmd:b')?.options.acts).to.deep.equal(['role:x,cmd:y'])
  })

  describe('tasks and events in process', () => {
    it('sends a task to its handler and refuses bad task names at registration and send', async () => {
      const s = make()
      const got: unknown[] = []
      s.add('task:tally.vote.record', (m) => void got.push(m.voter))
      await s.send('tally.vote.record', { voter: 'v1' })
      await waitFor(() => got.length === 1, 'the task')
      expect(got).to.deep.equal(['v1'])
      expect(() => s.add('task:tally.record', () => 0))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_NAME')
      expect(await codeOf(s.send('Tally.vote.record'))).to.equal('INVALID_NAME')
      expect(await codeOf(s.send('audit.vote.check'))).to.equal('NOT_FOUND')
    })

    it('emits an event to every subscriber, with wildcards, and refuses bad event names', async () => {
      const s = make()
      const got: string[] = []
      s.on('vote.recorded', (m) => void got.push(`a:${String(m.voter)}`))
      s.on('vote.*', (_m, ctx) => void got.push(`b:${String(ctx.event)}`))
      s.on('user.created', () => void got.push('c'))
      await s.emit('vote.recorded', { voter: 'v1' })
      await waitFor(() => got.length === 2, 'both subscribers')
      expect(got.sort()).to.deep.equal(['a:v1', 'b:vote.recorded'])
      expect(await codeOf(s.emit('vote.record'))).to.equal('INVALID_NAME')
      expect(await codeOf(s.emit('vote'))).to.equal('INVALID_NAME')
      expect(() => s.on('recorded', () => 0))
        .to.throw(StoaError)
        .with.property('code', 'INVALID_NAME')
    })

    it('gives a task handler and a subscriber the data as sent, routing in ctx.task and ctx.event', async () => {
      const s = make({ name: 'tally' })
      const seen: unknown[] = []
      s.add('task:tally.vote.record', (m, ctx) => void seen.push(['task', m, ctx.task, ctx.event]))
      s.add('task:tally.vote.check', (m, ctx) => void seen.push(['checked', m, ctx.task]), {
        schema: z.object({ voter: z.string() }),
      })
      s.on('vote.*', (m, ctx) => void seen.push(['event', m, ctx.event, ctx.task]))
      s.add('role:tally,cmd:count', (m, ctx) => void seen.push(['act', m, ctx.task, ctx.event]))
      await s.send('tally.vote.record', { voter: 'v1' })
      await s.send('tally.vote.check', { voter: 'v2' })
      await s.emit('vote.recorded', { voter: 'v3' })
      await s.act('role:tally,cmd:count', { voter: 'v4' })
      await waitFor(() => seen.length === 4, 'every handler')
      expect(seen).to.deep.include.members([
        ['task', { voter: 'v1' }, 'tally.vote.record', undefined],
        ['checked', { voter: 'v2' }, 'tally.vote.check'],
        ['event', { voter: 'v3' }, 'vote.recorded', undefined],
        // An act keeps its pattern's pairs in the message, as documented.
        ['act', { role: 'tally', cmd: 'count', voter: 'v4' }, undefined, undefined],
      ])
    })

    it('warns at start about a task handler for another service in a service that listens', async () => {
      const logger = quietLogger()
      const s = make({ name: 'gateway', logger }).listen(tapTransport())
      s.add('task:addressing.address.reconcile', () => undefined)
      s.add('task:gateway.vote.flush', () => undefined)
      await s.ready()
      const warned = logger.entries.filter((e) => e.level === 'warn')
      expect(warned.map((e) => e.message)).to.deep.equal([
        'task handler "task:addressing.address.reconcile" in service "gateway" is never given a task by a broker: tasks named addressing.* go to service "addressing"',
      ])
      await s.ready()
      expect(logger.entries.filter((e) => e.level === 'warn')).to.have.length(1)
      await s.close()
      // In process only, the handler does run: nothing to warn about.
      const alone = quietLogger()
      await make({ name: 'gateway', logger: alone })
        .add('task:addressing.address.reconcile', () => undefined)
        .ready()
      expect(alone.entries.filter((e) => e.level === 'warn')).to.deep.equal([])
    })

    it('gives a task and an event from a transport the data as sent', async () => {
      const tap = tapTransport()
      const s = make({ name: 'tally' }).listen(tap)
      const seen: unknown[] = []
      s.add('task:tally.vote.record', (m, ctx) => void seen.push([m, ctx.task]))
      s.on('vote.recorded', (m, ctx) => void seen.push([m, ctx.event]))
      await s.ready()
      const meta = { id: 'i1', trace: 't1' }
      await tap.host.dispatch({ kind: 'send', name: 'tally.vote.record', msg: { voter: 'v1' }, meta })
      await tap.host.dispatch({ kind: 'emit', name: 'vote.recorded', msg: { voter: 'v2' }, meta })
      await waitFor(() => seen.length === 2, 'both')
      expect(seen).to.deep.equal([
        [{ voter: 'v1' }, 'tally.vote.record'],
        [{ voter: 'v2' }, 'vote.recorded'],
      ])
      await s.close()
    })

    it('logs a failing subscriber without failing the emit', async () => {
      const logger = quietLogger()
      const s = make({ logger })
      s.on('vote.recorded', () => {
        throw new Error('subscriber bug')
      })
      await s.emit('vote.recorded', {})
      await waitFor(() => logger.entries.some((e) => e.level === 'error'), 'the error to be logged')
    })
  })

  describe('close', () => {
    it('waits for in-flight actions, then runs close hooks in reverse order', async () => {
      const order: string[] = []
      const s = make()
      s.onClose(() => void order.push('first'))
      s.onClose(async () => {
        await new Promise((r) => setTimeout(r, 5))
        order.push('second')
      })
      s.add('role:work', async () => {
        await new Promise((r) => setTimeout(r, 80))
        order.push('work')
        return 'done'
      })
      const call = s.act('role:work')
      await s.close()
      expect(order).to.deep.equal(['work', 'second', 'first'])
      expect(await call).to.equal('done')
      expect(await codeOf(s.act('role:work'))).to.equal('CLOSED')
    })

    it('refuses envelopes from transports once closing has begun', async () => {
      const s = make()
      s.add('role:work', () => new Promise((r) => setTimeout(r, 50)))
      const tap = tapTransport()
      await s.listen(tap).ready()
      const call = s.act('role:work')
      const closing = s.close()
      const reply = await tap.host.dispatch({ kind: 'act', msg: { role: 'work' }, meta: { id: 'x', trace: 'x' } })
      expect((reply as { error: { code: string } }).error.code).to.equal('CLOSED')
      await closing
      await call
    })

    it('gives up waiting after graceMs and rejects what is still in flight with CLOSED', async () => {
      const s = make({ graceMs: 30 })
      s.add('role:stuck', () => new Promise(() => undefined))
      const call = codeOf(s.act('role:stuck', {}, { timeoutMs: 60_000 }))
      await s.close()
      expect(await call).to.equal('CLOSED')
    })
  })
})
