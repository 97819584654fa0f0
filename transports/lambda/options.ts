import { z } from 'zod'
import { resolveTransportOptions } from '../../actions/transport.js'
import { HANDLER_DEFAULTS, LAMBDA_LIMITS } from './defaults.js'

export { LAMBDA_LIMITS, resolveLambdaHandlerOptions } from './defaults.js'

/** A function name, a partial or full ARN, optionally with `:version` or `:alias` (AWS's own pattern, simplified). */
const functionName = z.string().regex(/^[\w:.$-]{1,256}$/, 'must be a function name or ARN')

/** Static credentials; without them the AWS SDK's default credential chain is used. */
const credentials = z.strictObject({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
})

/** Options of the Lambda client transport: which function, in which region, through which endpoint. */
export const lambdaOptions = z.strictObject({
  /** The function acts, tasks and events go to: its name or ARN, optionally `:alias`. */
  functionName,
  /** The version or alias invoked, when `functionName` does not carry one. */
  qualifier: z
    .string()
    .regex(/^[\w$-]{1,128}$/)
    .optional(),
  /**
   * The stoa service the function runs. When given, tasks for other services are refused
   * with `NOT_FOUND`, so that the next client transport is tried; absent, every task goes here.
   */
  service: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .optional(),
  /** AWS region; default `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the SDK's own lookup. */
  region: z.string().min(1).optional(),
  /** Another Invoke API endpoint (a local one in tests); default `AWS_ENDPOINT_URL_LAMBDA`, then AWS's. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Static credentials; absent: the SDK's default chain (environment, profile, SSO, role). */
  credentials: credentials.optional(),
  /** Tries per invocation, the first included; the SDK retries throttles and 5xx answers. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** Acts whose payload is larger are refused before sending: Lambda's synchronous limit. */
  maxSyncPayloadBytes: z.number().int().positive().max(LAMBDA_LIMITS.syncBytes).default(LAMBDA_LIMITS.syncBytes),
  /** Tasks and events whose payload is larger are refused before sending: Lambda's asynchronous limit. */
  maxAsyncPayloadBytes: z.number().int().positive().max(LAMBDA_LIMITS.asyncBytes).default(LAMBDA_LIMITS.asyncBytes),
})

/** Options of {@link createLambdaTransport} as callers write them. */
export type LambdaOptions = z.input<typeof lambdaOptions>

/** Client options after defaults and environment fallbacks. */
export type ResolvedLambdaOptions = Readonly<z.output<typeof lambdaOptions>>

/** Options of `lambdaHandler`: how a service runs as a Lambda function. */
export const lambdaHandlerOptions = z.strictObject({
  /**
   * Time kept back from Lambda's remaining time, ms: each call's deadline is
   * `context.getRemainingTimeInMillis()` less this, so an action times out cleanly, and its
   * answer is written, before Lambda stops the function.
   */
  marginMs: z.number().int().min(0).default(HANDLER_DEFAULTS.marginMs),
  /**
   * EventBridge `detail-type`s that are not stoa event names, mapped to the event each one
   * stands for: `{ 'Scheduled Event': 'export.scheduled' }`. Others are used as they are.
   */
  events: z.record(z.string(), z.string()).default({}),
  /** Results over this size are answered with `PAYLOAD_TOO_LARGE`: Lambda's response limit. */
  maxResponseBytes: z.number().int().positive().max(LAMBDA_LIMITS.syncBytes).default(LAMBDA_LIMITS.syncBytes),
})

/** Options of `lambdaHandler` as callers write them. */
export type LambdaHandlerOptions = z.input<typeof lambdaHandlerOptions>

/** Handler options after defaults. */
export type ResolvedLambdaHandlerOptions = Readonly<z.output<typeof lambdaHandlerOptions>>

/**
 * The environment fallbacks of the Lambda transport, read here and nowhere else:
 *
 * - `AWS_REGION`, then `AWS_DEFAULT_REGION`: the region, when `region` is not given (Lambda
 *   sets `AWS_REGION` inside a function);
 * - `AWS_ENDPOINT_URL_LAMBDA`: the endpoint, when `endpoint` is not given.
 *
 * Credentials are left to the AWS SDK's default chain, which reads `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE` and the rest itself.
 */
export function lambdaEnv(env: NodeJS.ProcessEnv = process.env): { region?: string; endpoint?: string } {
  const out: { region?: string; endpoint?: string } = {}
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION)
  if (region !== undefined) out.region = region
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_LAMBDA)
  if (endpoint !== undefined) out.endpoint = endpoint
  return out
}

/** Validates client options, filling region and endpoint from the environment when absent. */
export function resolveLambdaOptions(
  input: LambdaOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedLambdaOptions {
  const fallback = lambdaEnv(env)
  const given: Partial<LambdaOptions> = input ?? {}
  const merged = { ...given }
  if (given.region === undefined && fallback.region !== undefined) merged.region = fallback.region
  if (given.endpoint === undefined && fallback.endpoint !== undefined) merged.endpoint = fallback.endpoint
  return resolveTransportOptions('lambda', lambdaOptions, merged)
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}
