import { defineService } from 'stoa'
import { settings, stateOf } from '../config.js'
import { shopPlugins } from '../shop.js'

/**
 * The whole shop embedded, in one process and with no server: checkout, inventory, payment and
 * shipping in one instance, the saga on the in-memory engine (not durable), the participants'
 * tables in one PGlite database (`ORDERS_DATA_DIR`, default `memory://`; or PostgreSQL at
 * `DATABASE_URL`). The saga's steps are in-process calls.
 *
 * ```sh
 * stoa serve examples/orders/services/shop.ts --http 127.0.0.1:3100
 * ```
 */
export default defineService({
  name: 'shop',
  config: {
    DATABASE_URL: settings.DATABASE_URL,
    ORDERS_DATA_DIR: settings.ORDERS_DATA_DIR,
    ORDERS_FAIL: settings.ORDERS_FAIL,
  },
  plugins: (config) => shopPlugins(stateOf(config), config.ORDERS_FAIL),
})
