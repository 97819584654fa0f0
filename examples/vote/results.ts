import { action, definePlugin, StoaError } from 'stoa'
import type { Sql } from 'stoa/postgres'
import { z } from 'zod'
import type { Results } from './store/tally.js'
import { readResults } from './store/tally.js'

/** Where results reads the tally's tables: PostgreSQL at `url`, or the tally's opened `database`. */
export type ResultsSource = {
  url?: string
  database?: () => Sql
}

/**
 * The results service: `role:results,cmd:get` answers `{ cats, dogs, total, duplicates }` from
 * the tally's tables, which it only reads. Many pages polling at once cost one query per
 * `cacheMs`, not one each. The tables are reached through `url` (PostgreSQL, a small pool of
 * its own) or, embedded, through `database`: the tally's own (`tally.handleOf(postgres).db`),
 * since one PGlite directory is opened by one instance.
 */
export const results = definePlugin({
  name: 'results',
  options: z.object({
    /** The tally's PostgreSQL, read through a pool of `poolSize` connections. */
    url: z.string().min(1).optional(),
    poolSize: z.number().int().min(1).default(4),
    /** The tally's database as another plugin opened it; read when a call comes. */
    database: z.custom<() => Sql>((v) => typeof v === 'function', 'must be a function').optional(),
    /** Answers this recent are served again without a query, ms. */
    cacheMs: z.number().int().min(0).default(200),
  }),
  setup: (options) => {
    let sql: (() => Sql) | undefined = options.database
    let last: { at: number; out: Promise<Results> } | undefined
    return {
      init: async () => {
        if (options.url === undefined) return
        const { default: pg } = await import('pg')
        const pool = new pg.Pool({
          connectionString: options.url,
          max: options.poolSize,
          connectionTimeoutMillis: 5000,
        })
        // An idle client losing its connection (PostgreSQL restarted) must not end the process.
        pool.on('error', () => undefined)
        sql = () => ({
          query: (text, params) => pool.query(text, params as unknown[]) as never,
          exec: async (text) => void (await pool.query(text)),
        })
        return () => pool.end()
      },
      actions: {
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
            if (sql === undefined)
              throw new StoaError('UNAVAILABLE', 'results has no database: give it url or database')
            const now = Date.now()
            if (last === undefined || now - last.at >= options.cacheMs) {
              const out = readResults(sql())
              last = { at: now, out }
              // A failed query is not cached.
              out.catch(() => {
                if (last?.out === out) last = undefined
              })
            }
            return last.out
          },
        }),
      },
    }
  },
})
