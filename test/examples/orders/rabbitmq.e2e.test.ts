import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { run } from '../../bin/run.js'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import { freePort } from '../../helpers/ports.js'
import type { TestDatabase } from '../../helpers/postgres.js'
import { createTestDatabase } from '../../helpers/postgres.js'

const MAIN = fileURLToPath(new URL('../../../examples/orders/shop-main.ts', import.meta.url))
const SERVICES = ['inventory', 'payment', 'shipping', 'checkout'] as const

interface Status {
  state: string
  error?: { code: string }
  steps: { step: string; state: string }[]
}

/**
 * The order saga as examples/orders/README.md runs it on RabbitMQ and PostgreSQL: one process
 * per service (shop-main.ts <service>), each with its own database, queues under a prefix of
 * this run; checkout's sagas on the DBOS engine. A checkout completes; a declined payment is
 * compensated (the charge's undo, then the reservation's), as `stoa saga status` shows.
 */
describe('examples/orders on RabbitMQ and PostgreSQL: one process per service', function () {
  this.timeout(120_000)
  const prefix = `orders_e2e_${randomBytes(4).toString('hex')}`
  const dbs: TestDatabase[] = []
  const children: ChildProcess[] = []
  let url = ''

  /** Starts one service and resolves once it says it is ready (or fails with its output). */
  const start = (service: string, env: Record<string, string>): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, service], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let out = ''
      const timer = setTimeout(() => reject(new Error(`${service} not ready in 60 s:\n${out.slice(-2000)}`)), 60_000)
      const take = (d: Buffer) => {
        out += String(d)
        if (/orders: \w+ ready/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout!.on('data', take)
      child.stderr!.on('data', take)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`${service} exited (${code ?? signal}):\n${out.slice(-2000)}`))
      })
    })

  before(async () => {
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    for (const _ of SERVICES) dbs.push(await createTestDatabase('orders_e2e'))
    await Promise.all(
      SERVICES.map((service, i) =>
        start(service, {
          DATABASE_URL: dbs[i]!.url,
          AMQP_URL,
          AMQP_PREFIX: prefix,
          PORT: String(port),
          EXECUTOR_ID: `checkout-${prefix}`,
        }),
      ),
    )
  })
  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve()
            const kill = setTimeout(() => c.kill('SIGKILL'), 10_000)
            c.removeAllListeners('exit')
            c.once('exit', () => {
              clearTimeout(kill)
              resolve()
            })
            c.kill('SIGTERM')
          }),
      ),
    )
    await deleteTopology(prefix, [...SERVICES, 'cli'])
    for (const db of dbs) await db.drop()
  })

  /** Places an order through checkout's HTTP port and waits (bounded) for its saga to end. */
  const place = async (orderId: string, extra: string[] = []): Promise<Status> => {
    const placed = await run([
      'act',
      '--url',
      url,
      'role:checkout,cmd:place',
      `orderId=${orderId}`,
      'sku=book',
      'quantity=1',
      'amount=20',
      ...extra,
    ])
    expect(placed.code, placed.stderr).to.equal(0)
    expect(JSON.parse(placed.stdout)).to.deep.equal({ id: `order:${orderId}` })
    const until = Date.now() + 60_000
    for (;;) {
      const shown = await run(['saga', 'status', `order:${orderId}`, '--url', url])
      expect(shown.code, shown.stderr).to.equal(0)
      const st = JSON.parse(shown.stdout) as Status
      if (['completed', 'compensated', 'compensation_failed', 'failed'].includes(st.state)) return st
      if (Date.now() > until) throw new Error(`order ${orderId} did not end: ${shown.stdout}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const steps = (st: Status) => st.steps.map((s) => `${s.step}:${s.state}`)
  const get = async (pattern: string, orderId: string) => {
    const service = pattern.split(',')[0]!.slice('role:'.length)
    const got = await run([
      'act',
      '--url',
      `${AMQP_URL}?service=${service}&prefix=${prefix}`,
      pattern,
      '--json',
      JSON.stringify({ orderId }),
    ])
    expect(got.code, got.stderr).to.equal(0)
    return JSON.parse(got.stdout) as unknown
  }

  it('a checkout completes: reserved, charged and shipped by the other services over RabbitMQ', async () => {
    const st = await place('1')
    expect(st.state).to.equal('completed')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:done', 'ship:done'])
    expect(await get('role:payment,cmd:get', '1')).to.deep.equal({ amount: 20, state: 'charged' })
    expect(await get('role:shipping,cmd:get', '1')).to.deep.equal({ state: 'booked' })
  })

  it('fail=payment compensates: the charge and the reservation undone, in reverse order', async () => {
    const st = await place('2', ['fail=payment'])
    expect(st.state).to.equal('compensated')
    expect(st.error?.code).to.equal('INVALID_MESSAGE')
    expect(steps(st)).to.deep.equal(['reserve:done', 'charge:failed', 'undo:charge:done', 'undo:reserve:done'])
    expect(await get('role:payment,cmd:get', '2')).to.equal(null)
    expect(await get('role:shipping,cmd:get', '2')).to.equal(null)
  })
})
