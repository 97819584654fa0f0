import { expect } from 'chai'
import { z } from 'zod'
import type { ErrorCode, Stoa } from '../../actions/index.js'
import { action, batchAction, createStoa, ERROR_CODES, StoaError } from '../../actions/index.js'
import { quietLogger, settle, waitFor } from '../helpers/wait.js'

/**
 * Connects stoa instances through one transport. Every transport runs the same suite by
 * providing one of these; all instances attached by one harness reach each other.
 */
export interface ConformanceHarness {
  /** Makes `stoa` reachable as its service: its actions, tasks and subscriptions. */
  listen(stoa: Stoa<any>): void | Promise<void>
  /**
   * Makes `stoa` call out: acts matching `pins` go to service `target`, tasks to their
   * service, events to every subscriber.
   */
  client(stoa: Stoa<any>, target: string, pins: string[]): void | Promise<void>
  /** Releases whatever the harness holds (queues, servers, connections). */
  close(): Promise<void>
}

/**
 * Cases a transport cannot run, each with the reason, e.g. `{ emit: 'http carries no events' }`.
 *
 * Fire-and-forget deliveries (Lambda's `Event` invocations, which carry every task and event
 * of the lambda transport) are answered "accepted" before anything runs, so the caller never
 * sees the outcome. For them only the two delivery cases apply (send reaches exactly one,
 * emit reaches every subscribing service once). The act round trip, the error-code round
 * trips, ACTION_FAILED, INVALID_MESSAGE, NOT_FOUND, deadline expiry, identity and trace
 * carried back in a result, and close with work in flight all read the callee's answer, which
 * such a delivery has none of: these cases run on acts (Lambda's `RequestResponse`) only.
 */
export type Skips = Partial<Record<'send' | 'emit' | 'instance' | 'batch' | 'close', string>>

/**
 * The transport conformance suite: act round trip, every error code round trip, deadline,
 * identity and trace, send reaches exactly one, emit reaches every subscribing service once
 * and every instance subscribed with `{ each: 'instance' }`, and close with work in flight.
 */
export function conformance(name: string, makeHarness: () => Promise<ConformanceHarness>, skips: Skips = {}): void {
  describe(`transport conformance: ${name}`, function () {
    this.timeout(20000)
    let harness: ConformanceHarness
    const started: Stoa<any>[] = []
    const make = (service: string) => {
      const s = createStoa({ name: service, logger: quietLogger(), graceMs: 5000 })
      started.push(s)
      return s
    }

    beforeEach(async () => {
      harness = await makeHarness()
    })
    afterEach(async () => {
      for (const s of started.splice(0).reverse()) await s.close()
      await harness.close()
    })

    async function pair(setup: (server: Stoa<any>) => void, pins = ['role:math']) {
      const server = make('math')
      setup(server)
      await harness.listen(server)
      await server.ready()
      const client = make('gateway')
      await harness.client(client, 'math', pins)
      await client.ready()
      return { server, client }
    }

    it('round-trips an act and its result', async () => {
      const { client } = await pair((s) =>
        s.add(
          'role:math,cmd:sum',
          action({
            schema: z.object({ left: z.number(), right: z.number() }),
            handler: (m) => ({ answer: m.left + m.right, nested: { list: [1, 'two', null] } }),
          }),
        ),
      )
      const out = await client.act('role:math,cmd:sum', { left: 1, right: 2 })
      expect(out).to.deep.equal({ answer: 3, nested: { list: [1, 'two', null] } })
    })

    it('round-trips every error code with its message and details', async () => {
      const { client } = await pair((s) =>
        s.add('role:math,cmd:fail', (m) => {
          throw new StoaError(m.code as ErrorCode, `failed with ${String(m.code)}`, { code: m.code, n: 1 })
        }),
      )
      for (const code of ERROR_CODES) {
        const err = await client.act('role:math,cmd:fail', { code }).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err, code).to.be.instanceOf(StoaError)
        expect((err as StoaError).code).to.equal(code)
        expect((err as StoaError).message).to.equal(`failed with ${code}`)
        expect((err as StoaError).details).to.deep.equal({ code, n: 1 })
      }
    })

    it('answers a plain thrown error with ACTION_FAILED and no internals', async () => {
      const { client } = await pair((s) =>
        s.add('role:math,cmd:crash', () => {
          throw new Error('secret connection string postgres://u:p@db')
        }),
      )
      const err = (await client.act('role:math,cmd:crash').catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('ACTION_FAILED')
      expect(err.message).not.to.include('secret')
      expect(JSON.stringify(err.toJSON())).not.to.include('stack')
    })

    it('answers an invalid message with INVALID_MESSAGE and the failing fields', async () => {
      const { client } = await pair((s) =>
        s.add(
          'role:math,cmd:sum',
          action({ schema: z.object({ left: z.number(), right: z.number() }), handler: (m) => m.left + m.right }),
        ),
      )
      const err = (await client
        .act('role:math,cmd:sum', { left: 'one', right: 2 } as never)
        .catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('INVALID_MESSAGE')
      expect(err.details).to.deep.equal({ fields: ['left'] })
    })

    it('answers a message no remote action matches with NOT_FOUND', async () => {
      const { client } = await pair((s) => s.add('role:math,cmd:sum', () => 0))
      const err = (await client.act('role:math,cmd:nothing').catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('NOT_FOUND')
    })

    it('rejects with TIMEOUT when the remote action outlives the deadline', async () => {
      const { client } = await pair((s) =>
        s.add('role:math,cmd:slow', () => new Promise((r) => setTimeout(() => r('late'), 1500))),
      )
      const t0 = Date.now()
      const err = (await client.act('role:math,cmd:slow', {}, { timeoutMs: 150 }).catch((e: unknown) => e)) as StoaError
      expect(err.code).to.equal('TIMEOUT')
      expect(Date.now() - t0).to.be.lessThan(1400)
    })

    it('carries the deadline, trace, token and caller to the remote action', async () => {
      const { client } = await pair((s) =>
        s.add('role:math,cmd:whoami', (_m, ctx) => ({
          trace: ctx.trace,
          token: ctx.token,
          caller: ctx.caller,
          deadline: ctx.deadline,
        })),
      )
      const before = Date.now()
      const out = (await client.act(
        'role:math,cmd:whoami',
        {},
        { trace: 'trace-42', token: 'tok.en.jwt', timeoutMs: 4000 },
      )) as Record<string, unknown>
      expect(out.trace).to.equal('trace-42')
      expect(out.token).to.equal('tok.en.jwt')
      expect(out.caller).to.equal('gateway')
      expect(out.deadline).to.be.within(before + 3000, Date.now() + 4000)
    })

    it('passes trace and token on through a nested remote call', async () => {
      const audit = make('audit')
      audit.add('role:audit,cmd:check', (_m, ctx) => ({
        trace: ctx.trace,
        token: ctx.token,
        remainingMs: ctx.remainingMs,
      }))
      await harness.listen(audit)
      await audit.ready()
      const { client, server } = await pair((s) =>
        s.add('role:math,cmd:chain', (_m, ctx) => ctx.act('role:audit,cmd:check')),
      )
      await harness.client(server, 'audit', ['role:audit'])
      await server.ready()
      const out = (await client.act(
        'role:math,cmd:chain',
        {},
        { trace: 't-1', token: 'abc', timeoutMs: 3000 },
      )) as Record<string, number | string>
      expect(out.trace).to.equal('t-1')
      expect(out.token).to.equal('abc')
      expect(out.remainingMs).to.be.within(1, 3000)
    })

    ;(skips.send ? it.skip : it)(
      `delivers each task to exactly one instance of its service${skips.send ? ` (${skips.send})` : ''}`,
      async () => {
        const seen: string[][] = [[], []]
        for (const i of [0, 1]) {
          const tally = make('tally')
          tally.add('task:tally.vote.record', (m) => {
            seen[i]!.push(String(m.voter))
          })
          await harness.listen(tally)
          await tally.ready()
        }
        const gateway = make('gateway')
        await harness.client(gateway, 'tally', [])
        await gateway.ready()
        const voters = Array.from({ length: 20 }, (_, i) => `v${i}`)
        await Promise.all(voters.map((voter) => gateway.send('tally.vote.record', { voter })))
        await waitFor(() => seen[0]!.length + seen[1]!.length >= voters.length, 'every task handled')
        await settle()
        expect([...seen[0]!, ...seen[1]!].sort()).to.deep.equal([...voters].sort())
      },
    )

    ;(skips.batch ? it.skip : it)(
      `hands a batched handler its tasks together, and fails a failing one alone${skips.batch ? ` (${skips.batch})` : ''}`,
      async () => {
        // max 5 and a long wait: a batch runs when five deliveries are there, or (bisected) when
        // one holding the poison failed; the poison is never committed, every other task once.
        const committed: string[] = []
        const tried: string[][] = []
        const tally = make('tally')
        tally.add(
          'task:tally.vote.record',
          batchAction({
            schema: z.object({ voter: z.string() }),
            batch: { max: 5, waitMs: 5000 },
            handler: (items) => {
              const voters = items.map((i) => i.msg.voter)
              tried.push(voters)
              if (voters.includes('poison')) throw new StoaError('INVALID_MESSAGE', 'this vote cannot be recorded')
              committed.push(...voters)
            },
          }),
        )
        await harness.listen(tally)
        await tally.ready()
        const gateway = make('gateway')
        await harness.client(gateway, 'tally', [])
        await gateway.ready()
        const voters = [...Array.from({ length: 9 }, (_, i) => `v${i}`), 'poison']
        await Promise.allSettled(voters.map((voter) => gateway.send('tally.vote.record', { voter })))
        await waitFor(() => committed.length >= 9, 'the nine good tasks committed', 15000)
        await settle()
        expect([...committed].sort()).to.deep.equal(voters.filter((v) => v !== 'poison').sort())
        expect(
          tried.some((b) => b.length === 5),
          `batches tried: ${JSON.stringify(tried)}`,
        ).to.equal(true)
        expect(tried.filter((b) => b.includes('poison')).at(-1)).to.deep.equal(['poison'])
      },
    )

    ;(skips.emit ? it.skip : it)(
      `delivers each event once to every subscribing service${skips.emit ? ` (${skips.emit})` : ''}`,
      async () => {
        const got: Record<string, number> = { tally: 0, audit: 0, other: 0 }
        for (const service of ['tally', 'tally', 'audit', 'audit', 'other']) {
          const s = make(service)
          if (service === 'other') s.on('user.created', () => void got.other!++)
          else if (service === 'audit') s.on('vote.*', () => void got.audit!++)
          else s.on('vote.recorded', () => void got.tally!++)
          await harness.listen(s)
          await s.ready()
        }
        const gateway = make('gateway')
        await harness.client(gateway, 'tally', [])
        await gateway.ready()
        await gateway.emit('vote.recorded', { voter: 'v1' })
        await waitFor(() => got.tally === 1 && got.audit === 1, 'the event at tally and audit')
        await settle()
        expect(got).to.deep.equal({ tally: 1, audit: 1, other: 0 })
      },
    )

    ;(skips.instance ? it.skip : it)(
      `delivers each event to every instance subscribed with each: 'instance', beside the service's once${skips.instance ? ` (${skips.instance})` : ''}`,
      async () => {
        // Two tally instances hold a durable subscription and an instance one each; two edge
        // instances hold instance subscriptions only (one by a wildcard). One event: the durable
        // subscription runs once in all, every instance subscription once on its own instance.
        let durable = 0
        const each: Record<string, number> = { tally0: 0, tally1: 0, edge0: 0, edge1: 0 }
        for (const [service, i] of [
          ['tally', 0],
          ['tally', 1],
          ['edge', 0],
          ['edge', 1],
        ] as const) {
          const s = make(service)
          const key = `${service}${i}`
          if (service === 'tally') s.on('vote.recorded', () => void durable++)
          s.on(i === 0 ? 'vote.recorded' : 'vote.*', () => void each[key]!++, { each: 'instance' })
          s.on('user.created', () => void each[key]!++, { each: 'instance' })
          await harness.listen(s)
          await s.ready()
        }
        const gateway = make('gateway')
        await harness.client(gateway, 'tally', [])
        await gateway.ready()
        await gateway.emit('vote.recorded', { voter: 'v1' })
        await waitFor(
          () => durable === 1 && Object.values(each).every((n) => n === 1),
          `the event at the service and at every instance ${JSON.stringify({ durable, ...each })}`,
        )
        await settle()
        expect({ durable, ...each }).to.deep.equal({ durable: 1, tally0: 1, tally1: 1, edge0: 1, edge1: 1 })
      },
    )

    ;(skips.close ? it.skip : it)(
      `finishes in-flight work before close resolves${skips.close ? ` (${skips.close})` : ''}`,
      async () => {
        let started = false
        let finished = false
        const { client, server } = await pair((s) =>
          s.add('role:math,cmd:work', async () => {
            started = true
            await new Promise((r) => setTimeout(r, 300))
            finished = true
            return { done: true }
          }),
        )
        const call = client.act('role:math,cmd:work')
        await waitFor(() => started, 'the work to start')
        await server.close()
        expect(finished).to.equal(true)
        expect(await call).to.deep.equal({ done: true })
        const after = (await client
          .act('role:math,cmd:work', {}, { timeoutMs: 2000 })
          .catch((e: unknown) => e)) as StoaError
        expect(after).to.be.instanceOf(StoaError)
        expect(['CLOSED', 'NOT_FOUND', 'UNAVAILABLE', 'TIMEOUT']).to.include(after.code)
      },
    )
  })
}
