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
 * `cacheMs`, not one each. `role:results,cmd:changed` answers the same once a vote was
 * committed (what the gateway's `resultsChanged` subscription maps each `vote.recorded`
 * through): never from a read that may have started before the commit, and every caller
 * waiting meanwhile shares one read. The tables are reached through `url` (PostgreSQL, a small pool of
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
    const database = (): Sql => {
      if (sql === undefined) throw new StoaError('UNAVAILABLE', 'results has no database: give it url or database')
      return sql()
    }
    // The read running now, and the one queued after it for callers that came during it.
    let running: Promise<Results> | undefined
    let queued: Promise<Results> | undefined
    const read = (): Promise<Results> => {
      const at = Date.now()
      const out = readResults(database())
      running = out
      last = { at, out }
      const done = () => {
        if (running === out) running = undefined
      }
      out.then(done, done)
      out.catch(() => {
        if (last?.out === out) last = undefined
      })
      return out
    }
    const fresh = (): Promise<Results> => {
      if (running === undefined) return read()
      // The read running may have started before the commit this caller heard of: it waits for
      // the next, which starts once this one is over, and so does everyone else until then.
      queued ??= running
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          queued = undefined
          return read()
        })
      return queued
    }
    const counts = z.object({
      cats: z.number().int().min(0),
      dogs: z.number().int().min(0),
      total: z.number().int().min(0),
      duplicates: z.number().int().min(0),
    })
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
          result: counts,
          handler: () => {
            const now = Date.now()
            if (last === undefined || now - last.at >= options.cacheMs) return read()
            return last.out
          },
        }),
        'role:results,cmd:changed': action({
          public: true,
          description: 'the counts once a vote was committed: read after the call came, one read for all waiting',
          result: counts,
          handler: () => fresh(),
        }),
      },
    }
  },
})
