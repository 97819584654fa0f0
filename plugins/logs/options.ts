import { z } from 'zod'

/** The levels stoa logs at, from most to least verbose, and `silent`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** A logging threshold. */
export type PinoLevel = (typeof LOG_LEVELS)[number]

/** Options of the logs plugin: at which levels each call's line is written. */
export const logsOptions = z.strictObject({
  /** The level of the line for a call that succeeded: `debug`, so `info` stays quiet. */
  callLevel: z.enum(LOG_LEVELS).default('debug'),
  /** The level of the line for a call that failed, with its error code as `outcome`. */
  failureLevel: z.enum(LOG_LEVELS).default('warn'),
})

/** Options of the logs plugin as `use(logs, options)` takes them. */
export type LogsOptions = z.input<typeof logsOptions>

/** Options of {@link createPinoLogger}. */
export const pinoLoggerOptions = z.strictObject({
  /** The lowest level written. Default `info`; `LOG_LEVEL` sets it under `stoa serve`. */
  level: z.enum(LOG_LEVELS).default('info'),
  /** Human-readable lines through pino-pretty instead of JSON lines: for a developer's terminal. */
  pretty: z.boolean().default(false),
  /** Field names to redact wherever they appear (at any of the first three levels), besides the built-in ones. */
  secrets: z.array(z.string().regex(/^[A-Za-z_$][\w$-]*$/, 'must be a plain field name')).default([]),
  /** The service's name, on every line as `service`. */
  service: z.string().optional(),
  /** Where lines go: anything with `write(string)`. Default: stderr. */
  destination: z
    .custom<{ write(chunk: string): unknown }>(
      (v) => v !== null && typeof v === 'object' && typeof (v as { write?: unknown }).write === 'function',
      'must have write()',
    )
    .optional(),
})

/** Options of {@link createPinoLogger} as callers write them. */
export type PinoLoggerOptions = z.input<typeof pinoLoggerOptions>

/**
 * The logger settings the environment gives: `LOG_LEVEL` (one of {@link LOG_LEVELS}, any case).
 * The one place stoa's logging reads the environment; an unknown level is refused rather than
 * ignored, so a typo does not silence a service.
 *
 * @example
 * createPinoLogger({ ...logOptionsFromEnvironment(process.env), service: 'tally' })
 */
export function logOptionsFromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): {
  level?: PinoLevel
} {
  const raw = env.LOG_LEVEL
  if (raw === undefined || raw === '') return {}
  const level = raw.trim().toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${raw}"`)
  }
  return { level: level as PinoLevel }
}
