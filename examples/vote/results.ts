import { action, definePlugin } from 'stoa'
import { z } from 'zod'
import type { SharedStore } from './store/shared.js'
import type { Results } from './store/tally.js'
import { readResults } from './store/tally.js'

/**
 * The results service: `role:results,cmd:get` answers `{ cats, dogs, total, duplicates }` from
 * the tally's tables. Many pages polling at once cost one query per `cacheMs`, not one each.
 */
export const results = definePlugin({
  name: 'results',
  options: z.object({
    /** The tally's database; results only reads it. */
    store: z.custom<SharedStore>((v) => v !== null && typeof v === 'object' && 'acquire' in v, 'must be a SharedStore'),
    /** Answers this recent are served again without a query, ms. */
    cacheMs: z.number().int().min(0).default(200),
  }),
  init: async (_stoa, options) => {
    await options.store.acquire(false)
    return () => options.store.release()
  },
  actions: (options) => {
    let last: { at: number; out: Promise<Results> } | undefined
    return {
      'role:results,cmd:get': action({
        public: true,
        description: 'the counts so far: cats, dogs, total and duplicates',
        result: z.object({
          cats: z.number().int().min(0),
          dogs: z.number().int().min(0),
          total: z.number().int().min(0),
          duplicates: z.number().int().min(0),
        }),
        handler: () => {
          const now = Date.now()
          if (last === undefined || now - last.at >= options.cacheMs) {
            const out = readResults(options.store.current())
            last = { at: now, out }
            // A failed query is not cached.
            out.catch(() => {
              if (last?.out === out) last = undefined
            })
          }
          return last.out
        },
      }),
    }
  },
})
