import { join, resolve } from 'node:path'
import type { Stoa } from 'stoa'
import { createAmqpTransport } from 'stoa/amqp'
import { createHttpTransport } from 'stoa/http'
import { createMemoryBus, createMemoryTransport } from 'stoa/memory'
import { createDbosEngine, createMemoryEngine } from 'stoa/saga'
import type { Failing } from './shop.js'
import { checkoutService, inventoryService, participants, paymentService, shippingService } from './shop.js'

/**
 * The order saga, runnable two ways.
 *
 * - Embedded (no argument): inventory, payment, shipping and checkout in one process on the
 *   memory transport, each participant with its own PGlite database under `ORDERS_DATA_DIR`
 *   (default `memory://`, nothing kept), the saga on the in-memory engine (not durable).
 * - On RabbitMQ and PostgreSQL (an argument names the one service this process runs:
 *   `inventory`, `payment`, `shipping` or `checkout`): `AMQP_URL` is the broker (`AMQP_PREFIX`
 *   names its queues and exchanges, default `orders`), `DATABASE_URL`
 *   the service's own database (checkout keeps its sagas there, on the DBOS engine, with
 *   `EXECUTOR_ID` as its executor id).
 *
 * Checkout also listens on HTTP (`PORT`, default 3100), so `stoa act` places orders and
 * `stoa saga status` watches them. `ORDERS_FAIL=payment|shipping` makes that participant refuse
 * every call (the message field `fail` does it for one order).
 */
async function main(): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`)
  const only = process.argv[2]
  const fail = process.env.ORDERS_FAIL as Failing | undefined
  const port = Number(process.env.PORT ?? 3100)
  const http = createHttpTransport({ host: '127.0.0.1', port })
  const running: Stoa<any>[] = []

  if (only === undefined) {
    const dir = process.env.ORDERS_DATA_DIR ?? 'memory://'
    const state = (name: string) => ({ dataDir: dir === 'memory://' ? dir : join(resolve(dir), name) })
    const bus = createMemoryBus()
    const memory = () => createMemoryTransport({ bus })
    running.push(
      inventoryService({ state: state('inventory') }).listen(memory()),
      paymentService({ state: state('payment'), fail: fail === 'payment' }).listen(memory()),
      shippingService({ state: state('shipping'), fail: fail === 'shipping' }).listen(memory()),
      checkoutService({ engine: createMemoryEngine() }).client(memory(), Object.values(participants)).listen(http),
    )
  } else {
    const amqpUrl = process.env.AMQP_URL ?? 'amqp://127.0.0.1'
    const prefix = process.env.AMQP_PREFIX ?? 'orders'
    const url = process.env.DATABASE_URL
    if (url === undefined) throw new Error('DATABASE_URL names the database of the service this process runs')
    const amqp = () => createAmqpTransport({ url: amqpUrl, prefix })
    if (only === 'inventory') running.push(inventoryService({ state: { url } }).listen(amqp()))
    else if (only === 'payment')
      running.push(paymentService({ state: { url }, fail: fail === 'payment' }).listen(amqp()))
    else if (only === 'shipping')
      running.push(shippingService({ state: { url }, fail: fail === 'shipping' }).listen(amqp()))
    else if (only === 'checkout') {
      const engine = createDbosEngine({ url, executorId: process.env.EXECUTOR_ID ?? 'checkout-1' })
      const checkout = checkoutService({ engine }).listen(http)
      // A client per participant: a pinned act names the service whose queue answers it.
      for (const [target, pattern] of Object.entries(participants)) {
        checkout.client(createAmqpTransport({ url: amqpUrl, prefix, target }), [pattern])
      }
      running.push(checkout)
    } else throw new Error(`no service "${only}": inventory, payment, shipping or checkout`)
  }
  await Promise.all(running.map((s) => s.ready()))
  say(`orders: ${running.map((s) => s.name).join(', ')} ready`)
  if (running.some((s) => s.name === 'checkout')) {
    const url = `http://127.0.0.1:${port}`
    say(`  npx stoa act --url ${url} role:checkout,cmd:place orderId=42 sku=book quantity=1 amount=20`)
    say(`  npx stoa act --url ${url} role:checkout,cmd:place orderId=43 sku=book quantity=1 amount=20 fail=payment`)
    say(`  npx stoa saga status order:43 --url ${url}`)
    say(`  npx stoa saga list --url ${url}`)
  }
  const stop = async () => {
    for (const s of running.reverse()) await s.close()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop())
  process.once('SIGTERM', () => void stop())
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
