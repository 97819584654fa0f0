// Compiled by `tsc --noEmit` as part of `npm test`: every `@ts-expect-error` line must fail to
// compile, and every other line must compile, or the type check fails.
import { action, createStoa } from '../../actions/index.js'
import breaker from '../../plugins/breaker/index.js'
import bulkhead from '../../plugins/bulkhead/index.js'
import health from '../../plugins/health/index.js'

export async function checks() {
  const stoa = createStoa()
    .use(bulkhead, { plugins: { reports: { concurrency: 2, queue: 10 } } })
    .use(breaker, { failures: 3 })
    .use(health)

  // An action declares its bulkhead in its options, typed by the bulkhead plugin.
  stoa.add('role:a', () => 1, { bulkhead: { concurrency: 4, queue: 8 } })
  stoa.add('role:b', action({ handler: () => 2, bulkhead: { concurrency: 1 } }))
  // @ts-expect-error concurrency is a number
  stoa.add('role:c', () => 3, { bulkhead: { concurrency: 'four' } })
  // @ts-expect-error concurrency is required
  stoa.add('role:d', () => 4, { bulkhead: { queue: 1 } })
  // @ts-expect-error failures is a number
  createStoa().use(breaker, { failures: 'many' })
  // @ts-expect-error not an option of the health plugin
  createStoa().use(health, { routes: true })

  // A readiness check returns a boolean, nothing, or a promise of either.
  stoa.addCheck('db', async () => undefined)
  stoa.addCheck('cache', () => true)
  // @ts-expect-error a check is a function
  stoa.addCheck('broken', true)
  const r = await stoa.readiness()
  const ready: boolean = r.ready
  const reasons: (string | undefined)[] = r.checks.map((c) => c.reason)
  return { ready, reasons }
}
