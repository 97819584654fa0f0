/**
 * The bulkhead plugin: per-action or per-plugin limits on calls running at once and calls
 * waiting, as an inbound hook. Past them a call is refused with `OVERLOADED` at once (HTTP 503
 * with `Retry-After`), so one slow or flooded action cannot take the whole service down with it.
 *
 * @module stoa/bulkhead
 */
import type { ActionInfo } from '../../actions/index.js'
import { definePlugin, StoaError } from '../../actions/index.js'
import { Gate } from './gate.js'
import type { BulkheadLimit } from './options.js'
import { bulkheadLimit, bulkheadOptions } from './options.js'

export type { BulkheadLimit, BulkheadOptions } from './options.js'

declare module '../../actions/action.js' {
  interface ActionOptions {
    /** The bulkhead plugin's limit for this action: calls running at once, and waiting. */
    bulkhead?: BulkheadLimit
  }
}

/**
 * The bulkhead plugin. An action declares its limit in its options (`bulkhead: { concurrency,
 * queue }`); the plugin's `plugins` option gives every action of a plugin one shared limit.
 * Actions with neither run with no wrapper at all. Load it first, so that a refused call costs
 * nothing else (no token verified, no span started).
 *
 * @example
 * const stoa = createStoa({ name: 'tally' })
 *   .use(bulkhead, { plugins: { reports: { concurrency: 2, queue: 10 } } })
 *   .add('role:tally,cmd:count', count, { bulkhead: { concurrency: 8, queue: 100 } })
 */
const bulkhead = definePlugin({
  name: 'bulkhead',
  options: bulkheadOptions,
  hooks: (options) => {
    // One gate per plugin, shared by all its actions; made when its first action is wrapped.
    const shared = new Map<string, Gate>()
    return {
      inbound: (next, action) => {
        const own = action.options.bulkhead
        if (own !== undefined) {
          const limit = checkLimit(own, action)
          return new Gate(action.key, limit.concurrency, limit.queue, options.retryAfterMs).wrap(next)
        }
        const plugin = action.plugin
        const limit = plugin === undefined ? undefined : options.plugins[plugin]
        if (plugin === undefined || limit === undefined) return next
        let gate = shared.get(plugin)
        if (gate === undefined) {
          gate = new Gate(`plugin ${plugin}`, limit.concurrency, limit.queue ?? 0, options.retryAfterMs)
          shared.set(plugin, gate)
        }
        return gate.wrap(next)
      },
    }
  },
})

/** An action's own limit, validated when the action is wrapped (at startup, not per call). */
function checkLimit(limit: unknown, action: ActionInfo): { concurrency: number; queue: number } {
  const result = bulkheadLimit.safeParse(limit)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new StoaError(
      'INVALID_OPTIONS',
      `action "${action.key}": option "bulkhead${issue?.path.length ? `.${issue.path.join('.')}` : ''}": ${issue?.message ?? 'is invalid'}`,
      {
        pattern: action.key,
        fields: ['bulkhead'],
      },
    )
  }
  return result.data
}

export default bulkhead
