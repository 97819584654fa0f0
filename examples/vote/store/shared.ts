import { StoaError } from 'stoa'
import type { Store } from './db.js'
import { migrate } from './migrations.js'

/**
 * One store shared by the plugins of a process (the embedded demo runs tally, results and the
 * hand-over on one PGlite): opened by the first plugin that starts, closed when the last stops.
 * Its state lives in a closure: plugin options are deep-frozen, and this object travels in them.
 */
export interface SharedStore {
  /**
   * Opens the store (once) and, when `migrations` is set, brings its schema up to date first.
   * Each acquire is matched by a {@link SharedStore.release}.
   */
  acquire(migrations: boolean): Promise<Store>
  /** The open store; `UNAVAILABLE` before the first acquire finished. */
  current(): Store
  /** Drops one use; the last one closes the store. */
  release(): Promise<void>
}

/**
 * A store shared by the plugins of a process.
 *
 * @param open makes the store: `() => createPgStore(url)` or `() => createPgliteStore(dir)`
 * @example
 * const store = sharedStore(() => createPgliteStore('.vote-data'))
 */
export function sharedStore(open: () => Promise<Store>): SharedStore {
  let opening: Promise<Store> | undefined
  let store: Store | undefined
  let users = 0
  let migrated = false
  return {
    async acquire(migrations) {
      users++
      try {
        opening ??= open()
        const s = await opening
        if (migrations && !migrated) {
          await migrate(s)
          migrated = true
        }
        store = s
        return s
      } catch (err) {
        users--
        if (users === 0) opening = undefined
        throw err
      }
    },
    current() {
      if (store === undefined) throw new StoaError('UNAVAILABLE', 'the vote database is not open yet')
      return store
    },
    async release() {
      if (users === 0 || --users > 0) return
      const o = opening
      opening = undefined
      store = undefined
      migrated = false
      if (o !== undefined) await (await o).close()
    },
  }
}
