import { z } from 'zod'
import type { ParticipantState } from './shop.js'

/**
 * The settings the order services read under `stoa serve` (from the environment, or
 * `--env-file`): each service declares the ones it uses.
 */
export const settings = {
  /** The service's own PostgreSQL. Unset: PGlite in `ORDERS_DATA_DIR`, and checkout's sagas in memory (not durable). */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  /** PGlite's directory when `DATABASE_URL` is unset; `memory://` (the default) keeps nothing. */
  ORDERS_DATA_DIR: z.string().min(1).default('memory://'),
  /** The switch: this participant refuses every call of its step, so the compensation can be watched. */
  ORDERS_FAIL: z.enum(['payment', 'shipping']).optional(),
  /** Checkout's DBOS executor id: a restarted checkout resumes the sagas its id left pending. */
  EXECUTOR_ID: z.string().min(1).default('checkout-1'),
}

/** A participant's database from its settings: PostgreSQL at `DATABASE_URL`, else PGlite. */
export function stateOf(config: { DATABASE_URL?: string | undefined; ORDERS_DATA_DIR: string }): ParticipantState {
  return config.DATABASE_URL === undefined ? { dataDir: config.ORDERS_DATA_DIR } : { url: config.DATABASE_URL }
}
