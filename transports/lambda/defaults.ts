import { createRequire } from 'node:module'
import { deferredSchema, resolveTransportOptions } from '../../actions/transport.js'
import type * as OptionsModule from './options.js'
import type { LambdaHandlerOptions, ResolvedLambdaHandlerOptions } from './options.js'

/**
 * Lambda's documented payload limits (the Invoke API reference, "Invoke"): 6 MB for a
 * synchronous invocation's request and response, 1 MB for an asynchronous one's request (it
 * was 256 KB until October 2025). Lambda counts bytes; MB here is MiB, as its own error text
 * ("must be smaller than 6291456 bytes") shows.
 */
export const LAMBDA_LIMITS = Object.freeze({ syncBytes: 6 * 1024 * 1024, asyncBytes: 1024 * 1024 })

/** `lambdaHandler`'s defaults, given once: the options schema and {@link quickHandlerOptions} both use them. */
export const HANDLER_DEFAULTS = Object.freeze({ marginMs: 500, maxResponseBytes: LAMBDA_LIMITS.syncBytes })

const require = createRequire(import.meta.url)

/**
 * `lambdaHandler`'s options validated without the options schema, for the usual ones: none,
 * or `marginMs`, `events` and `maxResponseBytes` within bounds. The output is the schema's for
 * the same input; `undefined` for anything else, which the schema then checks and names.
 */
export function quickHandlerOptions(input: unknown): ResolvedLambdaHandlerOptions | undefined {
  if (input === null || typeof input !== 'object' || Object.getPrototypeOf(input) !== Object.prototype) return undefined
  const given = input as Record<string, unknown>
  for (const key of Object.keys(given))
    if (!['marginMs', 'events', 'maxResponseBytes'].includes(key) || given[key] === undefined) return undefined
  const { marginMs = HANDLER_DEFAULTS.marginMs, maxResponseBytes = HANDLER_DEFAULTS.maxResponseBytes } = given
  if (!Number.isSafeInteger(marginMs) || (marginMs as number) < 0) return undefined
  if (!Number.isSafeInteger(maxResponseBytes) || (maxResponseBytes as number) <= 0) return undefined
  if ((maxResponseBytes as number) > LAMBDA_LIMITS.syncBytes) return undefined
  const events = given.events ?? {}
  if (events === null || typeof events !== 'object' || Object.getPrototypeOf(events) !== Object.prototype)
    return undefined
  if (!Object.values(events).every((v) => typeof v === 'string')) return undefined
  return {
    marginMs: marginMs as number,
    events: { ...(events as Record<string, string>) },
    maxResponseBytes: maxResponseBytes as number,
  }
}

/** The schema, loaded (with zod) only for options {@link quickHandlerOptions} leaves to it. */
const handlerOptions = deferredSchema<typeof OptionsModule.lambdaHandlerOptions>(
  quickHandlerOptions,
  () => (require('./options.js') as typeof OptionsModule).lambdaHandlerOptions,
)

/** Validates `lambdaHandler` options. */
export function resolveLambdaHandlerOptions(input: LambdaHandlerOptions | undefined): ResolvedLambdaHandlerOptions {
  return resolveTransportOptions('lambda', handlerOptions, input ?? {})
}
