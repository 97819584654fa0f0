import { z } from 'zod'
import { StoaError } from '../../actions/index.js'

/** Options of the HTTP transport: where the listener listens, and where the client calls. */
export const httpOptions = z.strictObject({
  /** Interface the listener binds to. */
  host: z.string().default('127.0.0.1'),
  /** Port the listener binds to; 0 picks a free one (read it back with `address()`). */
  port: z.number().int().min(0).max(65535).default(0),
  /** The path requests are posted to, on both sides: Seneca's own default. */
  path: z.string().startsWith('/').default('/act'),
  /** Where the client sends: the base URL of a stoa or Seneca HTTP listener. */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** Request bodies over this size are refused with 413 before they are parsed: 1 MiB. */
  maxBodyBytes: z.number().int().positive().default(1024 * 1024),
  /**
   * Connections the client keeps open to its listener; further requests wait for a free one.
   * Bounded so that a burst of thousands of acts reuses warm connections instead of opening
   * thousands (and overflowing the listener's accept queue).
   */
  maxSockets: z.number().int().positive().default(128),
  /** How long the listener keeps an idle connection open, ms; clients are told via `Keep-Alive`. */
  keepAliveMs: z.number().int().positive().default(5000),
})

/** Options of {@link createHttpTransport} as callers write them. */
export type HttpOptions = z.input<typeof httpOptions>

/** Options after defaults. */
export type HttpSettings = z.output<typeof httpOptions>

/** Validates options, naming every failing option in an `INVALID_OPTIONS` error. */
export function httpSettings(input: HttpOptions | undefined): HttpSettings {
  const result = httpOptions.safeParse(input ?? {})
  if (result.success) return result.data
  const fields = result.error.issues.map((i) => i.path.join('.'))
  const text = result.error.issues.map((i) => `option "${i.path.join('.')}": ${i.message}`).join('; ')
  throw new StoaError('INVALID_OPTIONS', `http transport: ${text}`, { transport: 'http', fields })
}
