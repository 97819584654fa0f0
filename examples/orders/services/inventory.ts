import { defineService } from 'stoa'
import { settings, stateOf } from '../config.js'
import { inventoryPlugins } from '../shop.js'

/**
 * The inventory service as `stoa serve` runs it, on its own database (`DATABASE_URL`, else
 * PGlite): `stoa serve examples/orders/services/inventory.ts --amqp 'amqp://127.0.0.1?prefix=orders'`.
 */
export default defineService({
  name: 'inventory',
  config: { DATABASE_URL: settings.DATABASE_URL, ORDERS_DATA_DIR: settings.ORDERS_DATA_DIR },
  plugins: (config) => inventoryPlugins(stateOf(config)),
})
