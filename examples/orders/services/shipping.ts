import { defineService } from 'stoa'
import { settings, stateOf } from '../config.js'
import { shippingPlugins } from '../shop.js'

/**
 * The shipping service as `stoa serve` runs it, on its own database (`DATABASE_URL`, else
 * PGlite); `ORDERS_FAIL=shipping` makes the carrier never answer.
 */
export default defineService({
  name: 'shipping',
  config: {
    DATABASE_URL: settings.DATABASE_URL,
    ORDERS_DATA_DIR: settings.ORDERS_DATA_DIR,
    ORDERS_FAIL: settings.ORDERS_FAIL,
  },
  plugins: (config) => shippingPlugins(stateOf(config), config.ORDERS_FAIL === 'shipping'),
})
