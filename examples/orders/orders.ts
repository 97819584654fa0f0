import { randomUUID } from 'node:crypto'
import { action, definePlugin, StoaError } from 'stoa'
import { z } from 'zod'

/** An order as the service answers it. */
const order = z.object({
  orderId: z.uuid(),
  item: z.string().min(1).max(80),
  quantity: z.number().int().min(1).max(100),
  status: z.enum(['placed', 'shipped']),
})

/**
 * A small orders service, the contract example: a route with a path parameter, a `201`, a
 * task the service sends itself and an event it emits, every message and result declared, so
 * that its OpenAPI and AsyncAPI documents say all of it. Orders live in memory, one map per
 * loading of the plugin.
 */
export const orders = definePlugin({
  name: 'orders',
  actions: () => {
    const placed = new Map<string, z.infer<typeof order>>()
    return {
      'role:orders,cmd:place': action({
        public: true,
        description: 'places an order: 201 with it; shipping follows as a task',
        schema: z.object({ item: order.shape.item, quantity: order.shape.quantity }),
        result: order,
        sends: { 'orders.order.ship': z.object({ orderId: z.uuid() }) },
        emits: { 'order.placed': order },
        handler: async (msg, ctx) => {
          const out = { orderId: randomUUID(), item: msg.item, quantity: msg.quantity, status: 'placed' as const }
          placed.set(out.orderId, out)
          await ctx.emit('order.placed', out)
          await ctx.send('orders.order.ship', { orderId: out.orderId })
          return out
        },
      }),
      'role:orders,cmd:get': action({
        public: true,
        description: 'one order by its id',
        schema: z.object({ id: z.uuid() }),
        result: order,
        handler: (msg) => {
          const found = placed.get(msg.id)
          if (found === undefined) throw new StoaError('NOT_FOUND', `no order ${msg.id}`, { id: msg.id })
          return found
        },
      }),
      'task:orders.order.ship': action({
        description: 'ships a placed order',
        schema: z.object({ orderId: z.uuid() }),
        emits: { 'order.shipped': z.object({ orderId: z.uuid() }) },
        handler: async (msg, ctx) => {
          const found = placed.get(msg.orderId)
          if (found === undefined || found.status === 'shipped') return
          found.status = 'shipped'
          await ctx.emit('order.shipped', { orderId: msg.orderId })
        },
      }),
    }
  },
})

/** The orders routes (the web plugin's compact form). */
export const orderRoutes = {
  'POST /orders': { pattern: 'role:orders,cmd:place', status: 201 },
  'GET /orders/:id': 'role:orders,cmd:get',
} as const
