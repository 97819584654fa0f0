import { defineService } from 'stoa'
import web from 'stoa/web'
import { orderRoutes, orders } from './orders.js'

/**
 * The orders service as `stoa serve` runs it:
 * `stoa serve examples/orders/service.ts --web 127.0.0.1:3000`, and its documents with
 * `stoa docs examples/orders/service.ts --format openapi`.
 */
export default defineService({ name: 'orders', version: '1.0.0', plugins: [orders, [web, { routes: orderRoutes }]] })
