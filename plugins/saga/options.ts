import { z } from 'zod'
import type { SagaEngine } from './engine.js'

const isEngine = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as SagaEngine).register === 'function' &&
  typeof (v as SagaEngine).launch === 'function' &&
  typeof (v as SagaEngine).start === 'function'

const attempts = (n: number, backoffMs: number) =>
  z
    .strictObject({
      /** Calls before giving up. */
      attempts: z.number().int().min(1).default(n),
      /** Pause before the second call, ms; doubling after each, up to 30 s. */
      backoffMs: z.number().int().min(0).default(backoffMs),
    })
    .prefault({})

/** Options of the saga plugin. */
export const sagaOptions = z.strictObject({
  /** Where sagas run: `createDbosEngine(...)` on PostgreSQL. Default: the in-memory engine, NOT durable. */
  engine: z.custom<SagaEngine>(isEngine, 'must be a saga engine (createDbosEngine, createMemoryEngine)').optional(),
  /** A step's calls, unless its `retry` says otherwise (retryable errors only). */
  retry: attempts(3, 100),
  /** An undo's calls (every error is retried): then the saga ends `compensation_failed`. */
  undo: attempts(5, 200),
})

/** Options of the saga plugin as `use(sagas, options)` takes them. */
export type SagaOptions = z.input<typeof sagaOptions>
