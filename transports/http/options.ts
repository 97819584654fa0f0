import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { resolveTransportOptions } from '../../actions/transport.js'

/**
 * PEM text (`-----BEGIN ...` blocks), as a string or as the Buffer a file read gives. A file
 * name passed by mistake is refused here rather than as an obscure OpenSSL error at listen.
 */
const pem = z
  .union([z.string(), z.instanceof(Buffer)])
  .refine((v) => v.includes('-----BEGIN '), 'must be PEM text (-----BEGIN ...), not a file name')

/** Options of the HTTP transport: where the listener listens, and where the client calls. */
export const httpOptions = z
  .strictObject({
    /** Interface the listener binds to. */
    host: z.string().default('127.0.0.1'),
    /** Port the listener binds to; 0 picks a free one (read it back with `address()`). */
    port: z.number().int().min(0).max(65535).default(0),
    /** The path requests are posted to, on both sides: Seneca's own default. */
    path: z.string().startsWith('/').default('/act'),
    /** Where the client sends: the base URL of a stoa or Seneca HTTP listener. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Request bodies over this size are refused with 413 before they are parsed: 1 MiB. */
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /**
     * Connections the client keeps open to its listener; further requests wait for a free one.
     * Bounded so that a burst of thousands of acts reuses warm connections instead of opening
     * thousands (and overflowing the listener's accept queue).
     */
    maxSockets: z.number().int().positive().default(128),
    /** How long the listener keeps an idle connection open, ms; clients are told via `Keep-Alive`. */
    keepAliveMs: z.number().int().positive().default(5000),
    /**
     * Makes the listener serve HTTPS: its private key and its certificate, followed by any
     * intermediate certificates, as PEM. Absent: plain HTTP.
     */
    tls: z.strictObject({ key: pem, cert: pem }).optional(),
    /**
     * The certificates the client trusts for an `https:` url, as PEM, instead of Node's public
     * roots: a private CA's, or a self-signed listener's own. Absent: the public roots.
     */
    ca: pem.optional(),
    /**
     * Extra `GET` endpoints of the listener, by exact path (`/metrics`), answered by node:http
     * handlers: what a plugin serves beside the actions, such as the metrics plugin's
     * `metricsEndpoint(stoa)`.
     */
    endpoints: z
      .record(
        z.string().startsWith('/'),
        z.custom<(req: IncomingMessage, res: ServerResponse) => void>(
          (v) => typeof v === 'function',
          'must be a (req, res) handler',
        ),
      )
      .default({}),
  })
  .refine(
    // A `ca` beside an http url (or none) would go unused without a word: refuse it instead.
    (o) => o.ca === undefined || /^https:/i.test(o.url ?? ''),
    { path: ['ca'], message: 'is only used with an https: url' },
  )

/** Options of {@link createHttpTransport} as callers write them. */
export type HttpOptions = z.input<typeof httpOptions>

/** The options once validated and completed with defaults. */
export type ResolvedHttpOptions = Readonly<z.output<typeof httpOptions>>

/** Validates options, naming every failing option in an `INVALID_OPTIONS` error. */
export function resolveHttpOptions(input: HttpOptions | undefined): ResolvedHttpOptions {
  return resolveTransportOptions('http', httpOptions, input)
}
