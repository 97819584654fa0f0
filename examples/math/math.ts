import { action, definePlugin } from 'stoa'
import { z } from 'zod'

/** What both actions answer, and what `product.computed` carries. */
const answer = z.object({ answer: z.number() })

/**
 * The math plugin: typed actions declared once with their schemas, so `act` checks messages
 * and infers results at compile time, and bad messages are refused before the action runs.
 */
export const math = definePlugin({
  name: 'math',
  options: z.object({
    precision: z.number().int().min(0).max(10).default(2), // decimals kept in answers
  }),
  actions: (options) => ({
    'role:math,cmd:sum': action({
      description: 'adds left and right',
      schema: z.object({ left: z.number(), right: z.number() }),
      result: answer,
      handler: (msg) => ({ answer: round(msg.left + msg.right, options.precision) }),
    }),
    'role:math,cmd:product': action({
      description: 'multiplies left by right, and emits product.computed',
      schema: z.object({ left: z.number(), right: z.number() }),
      result: answer,
      emits: { 'product.computed': answer },
      handler: async (msg, ctx) => {
        const answer = round(msg.left * msg.right, options.precision)
        // Something happened: every service that subscribed hears of it, once.
        await ctx.emit('product.computed', { answer })
        return { answer }
      },
    }),
  }),
})

function round(n: number, decimals: number): number {
  const f = 10 ** decimals
  return Math.round(n * f) / f
}
