import { defineService } from 'stoa'
import { createDbosEngine, createMemoryEngine } from 'stoa/saga'
import { settings } from '../config.js'
import { checkoutClients, checkoutPlugins } from '../shop.js'

/**
 * The checkout service as `stoa serve` runs it: the order saga, declared by the checkout
 * plugin, on the DBOS engine in its own database (`DATABASE_URL`, executor `EXECUTOR_ID`), or
 * without one on the in-memory engine (not durable). It calls inventory, payment and shipping,
 * declared as its `clients`: `stoa serve --amqp` reaches each on its own queue.
 *
 * ```sh
 * stoa serve examples/orders/services/checkout.ts --amqp 'amqp://127.0.0.1?prefix=orders' --http 127.0.0.1:3100
 * ```
 */
export default defineService({
  name: 'checkout',
  clients: checkoutClients,
  config: { DATABASE_URL: settings.DATABASE_URL, EXECUTOR_ID: settings.EXECUTOR_ID },
  plugins: (config) =>
    checkoutPlugins({
      engine:
        config.DATABASE_URL === undefined
          ? createMemoryEngine()
          : createDbosEngine({ url: config.DATABASE_URL, executorId: config.EXECUTOR_ID }),
    }),
})
