import type { ServerResponse } from 'node:http'

/** Middleware as express and node's servers call it. */
export type ChainStep<Req, Res> = (req: Req, res: Res, next: (err?: unknown) => void) => unknown

/**
 * Runs middleware in order, as express does: each calls `next()` to go on, and one that answers
 * ends the chain. `next(err)`, a throw, or (as in express 5) a rejected promise calls `failed`.
 * `next('route')` calls `skip` when given; without it the chain goes on, as `next()` would.
 * `done` runs after the last one.
 *
 * @example
 * runChain(before, req, res, () => dispatch(req, res), (err) => failed(req, res, err))
 */
export function runChain<Req, Res extends ServerResponse>(
  chain: readonly ChainStep<Req, Res>[],
  req: Req,
  res: Res,
  done: () => void,
  failed: (err: unknown) => void,
  skip?: () => void,
): void {
  let i = 0
  const step = (err?: unknown): void => {
    if (err === 'route' || err === 'router') {
      if (skip !== undefined) {
        skip()
        return
      }
    } else if (err !== undefined && err !== null) {
      failed(err)
      return
    }
    if (res.headersSent || res.writableEnded) return
    const mw = chain[i++]
    if (mw === undefined) {
      done()
      return
    }
    try {
      const r: unknown = mw(req, res, step)
      if (r instanceof Promise) r.catch((e: unknown) => step(e ?? new Error('middleware rejected')))
    } catch (e) {
      step(e)
    }
  }
  step()
}
