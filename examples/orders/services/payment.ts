import { defineService } from 'stoa'
import { settings, stateOf } from '../config.js'
import { paymentPlugins } from '../shop.js'

/**
 * The payment service as `stoa serve` runs it, on its own database (`DATABASE_URL`, else
 * PGlite); `ORDERS_FAIL=payment` declines every charge.
 */
export default defineService({
  name: 'payment',
  config: {
    DATABASE_URL: settings.DATABASE_URL,
    ORDERS_DATA_DIR: settings.ORDERS_DATA_DIR,
    ORDERS_FAIL: settings.ORDERS_FAIL,
  },
  plugins: (config) => paymentPlugins(stateOf(config), config.ORDERS_FAIL === 'payment'),
})
