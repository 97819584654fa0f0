import type { LambdaClient, LambdaClientConfig } from '@aws-sdk/client-lambda'
import type { Envelope, Reply, TransportClient } from '../../actions/transport.js'
import { loadPeer, StoaError, taskService } from '../../actions/transport.js'
import type { ResolvedLambdaOptions } from './options.js'
import { decodeReply, encodeRequest, failure } from './wire.js'

/** The client side: invokes one function through the AWS SDK. */
export interface LambdaTransportClient extends TransportClient {
  /** Fails what is still waiting with `UNAVAILABLE` and releases the SDK's connections. */
  close(): void
}

/** What an SDK error tells: its name and the HTTP status, when there was an answer. */
interface SdkError {
  name?: string
  message?: string
  $metadata?: { httpStatusCode?: number }
}

/**
 * Creates a client for `settings.functionName`. An act is a `RequestResponse` invocation; a
 * task or an event an `Event` invocation, accepted once Lambda answers 202 (Lambda then runs
 * it, retrying twice on failure; the caller never sees its outcome). The SDK is loaded here,
 * when the client starts, so that importing `stoa/lambda` costs nothing until it is used.
 */
export async function createClient(settings: ResolvedLambdaOptions): Promise<LambdaTransportClient> {
  const sdk = await loadPeer<typeof import('@aws-sdk/client-lambda')>('@aws-sdk/client-lambda', 'stoa/lambda')
  const config: LambdaClientConfig = { maxAttempts: settings.maxAttempts }
  if (settings.region !== undefined) config.region = settings.region
  if (settings.endpoint !== undefined) config.endpoint = settings.endpoint
  if (settings.credentials !== undefined) config.credentials = settings.credentials
  const lambda: LambdaClient = new sdk.LambdaClient(config)
  try {
    await lambda.config.region()
  } catch {
    // Otherwise every invocation would fail later with the SDK's "Region is missing".
    lambda.destroy()
    throw new StoaError('INVALID_OPTIONS', 'lambda transport: no AWS region: set option "region", or AWS_REGION', {
      transport: 'lambda',
      fields: ['region'],
    })
  }
  const target = settings.functionName
  const inFlight = new Set<AbortController>()
  let closed = false

  async function invoke(e: Envelope, payload: string): Promise<Reply> {
    const sync = e.kind === 'act'
    const abort = new AbortController()
    inFlight.add(abort)
    // The kernel answers TIMEOUT to the caller at the deadline; aborting the request then
    // frees its connection instead of waiting for a function that is still running.
    const timer =
      e.meta.deadline === undefined
        ? undefined
        : setTimeout(() => abort.abort(), Math.max(0, e.meta.deadline - Date.now()))
    try {
      const out = await lambda.send(
        new sdk.InvokeCommand({
          FunctionName: target,
          InvocationType: sync ? 'RequestResponse' : 'Event',
          Payload: payload,
          ...(settings.qualifier === undefined ? {} : { Qualifier: settings.qualifier }),
        }),
        { abortSignal: abort.signal },
      )
      if (!sync)
        return out.StatusCode === 202
          ? { ok: true, out: undefined }
          : failure(
              'UNAVAILABLE',
              `Lambda did not accept the ${e.kind === 'send' ? 'task' : 'event'} (status ${String(out.StatusCode)})`,
            )
      const text = out.Payload === undefined ? '' : Buffer.from(out.Payload).toString('utf8')
      return decodeReply(text, out.FunctionError)
    } catch (err) {
      if (closed) return failure('UNAVAILABLE', 'the lambda transport is closed')
      if (abort.signal.aborted) return failure('TIMEOUT', `no answer from function ${target} before the deadline`)
      return sdkFailure(err as SdkError, target)
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      inFlight.delete(abort)
    }
  }

  return {
    deliver(e: Envelope): Promise<Reply> {
      if (closed) return Promise.resolve(failure('UNAVAILABLE', 'the lambda transport is closed'))
      if (e.meta.deadline !== undefined && e.meta.deadline <= Date.now()) {
        return Promise.resolve(failure('TIMEOUT', 'the deadline passed before the function was invoked'))
      }
      if (
        e.kind === 'send' &&
        settings.service !== undefined &&
        e.name !== undefined &&
        taskService(e.name) !== settings.service
      ) {
        return Promise.resolve(
          failure('NOT_FOUND', `function ${target} runs service "${settings.service}", not "${taskService(e.name)}"`, {
            task: e.name,
          }),
        )
      }
      let payload: string
      try {
        payload = encodeRequest(e)
      } catch {
        return Promise.resolve(failure('INVALID_MESSAGE', 'the message cannot be written as JSON'))
      }
      const limit = e.kind === 'act' ? settings.maxSyncPayloadBytes : settings.maxAsyncPayloadBytes
      const bytes = Buffer.byteLength(payload)
      if (bytes > limit) {
        // Refused here rather than by Lambda, so the caller learns why without a round trip.
        return Promise.resolve(
          failure(
            'PAYLOAD_TOO_LARGE',
            `the ${e.kind === 'act' ? 'request' : e.kind === 'send' ? 'task' : 'event'} is ${bytes} bytes; Lambda takes at most ${limit} for ${e.kind === 'act' ? 'a synchronous' : 'an asynchronous'} invocation`,
            { bytes, limit },
          ),
        )
      }
      return invoke(e, payload)
    },
    close() {
      closed = true
      for (const abort of inFlight) abort.abort()
      lambda.destroy()
    },
  }
}

/**
 * Maps an SDK failure to a stoa error. Throttling and service or network failures are
 * `UNAVAILABLE` (retryable); a missing function `NOT_FOUND`; a payload Lambda refuses
 * `PAYLOAD_TOO_LARGE`. The SDK's own message stays out of the caller's error: its name and
 * status, in details, say what happened.
 */
export function sdkFailure(err: SdkError, target: string): Reply {
  const name = typeof err.name === 'string' ? err.name : 'Error'
  const status = err.$metadata?.httpStatusCode
  const details: Record<string, unknown> = { function: target, awsError: name }
  if (status !== undefined) details.status = status
  switch (name) {
    case 'ResourceNotFoundException':
      return failure('NOT_FOUND', `no Lambda function ${target}`, details)
    case 'TooManyRequestsException':
      return failure('UNAVAILABLE', `function ${target} is throttled`, { ...details, throttled: true })
    case 'RequestTooLargeException':
      return failure('PAYLOAD_TOO_LARGE', `Lambda refused the payload for ${target} as too large`, details)
    case 'CredentialsProviderError':
      return failure('UNAVAILABLE', `no AWS credentials to invoke ${target}`, details)
    default:
      return failure(
        'UNAVAILABLE',
        status === undefined
          ? `cannot reach Lambda to invoke ${target}`
          : `Lambda answered ${status} (${name}) for ${target}`,
        details,
      )
  }
}
