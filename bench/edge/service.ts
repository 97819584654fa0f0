import { z } from 'zod'
import { action, createStoa } from '../../actions/index.js'
import graphql from '../../plugins/graphql/index.js'
import ratelimit from '../../plugins/ratelimit/index.js'
import web from '../../plugins/web/index.js'

/**
 * The edge suite's service: `role:math,cmd:sum` (typed message and result) on `POST /sum`,
 * and as the mutation `sum` on `POST /graphql` for `graphql`; `limited` adds a rate limit on
 * the action (memory store, a bucket no run empties, so every call takes a token and none is
 * refused).
 */
export async function edgeService(kind: string) {
  const quiet = { error() {}, warn() {}, info() {}, debug() {} }
  const stoa = createStoa({ name: 'bench', logger: quiet })
  if (kind === 'limited')
    stoa.use(ratelimit, {
      limits: { 'role:math,cmd:sum': { points: 1_000_000_000, durationSec: 3600, by: 'address' } },
    })
  stoa.add(
    'role:math,cmd:sum',
    action({
      schema: z.object({ left: z.number(), right: z.number() }),
      result: z.object({ answer: z.number() }),
      handler: (m) => ({ answer: m.left + m.right }),
    }),
  )
  stoa.use(web, { routes: { 'POST /sum': 'role:math,cmd:sum' } })
  if (kind === 'graphql') stoa.use(graphql, { mutations: { sum: 'role:math,cmd:sum' } })
  await stoa.ready()
  return stoa
}
