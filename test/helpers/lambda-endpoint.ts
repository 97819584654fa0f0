import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { types } from 'node:util'

/*
 * A local stand-in for Lambda's Invoke API, enough for the real @aws-sdk/client-lambda:
 * `POST /2015-03-31/functions/{name}/invocations` with `X-Amz-Invocation-Type`
 * (RequestResponse, Event, DryRun). It answers as Lambda does
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): 200 with the function's
 * result, and `X-Amz-Function-Error: Unhandled` with the runtime's `{ errorType,
 * errorMessage, trace }` when it threw; 202 for Event, queued and run later; 204 for DryRun;
 * errors in the REST-JSON form the SDK reads (`x-amzn-ErrorType`): 404 ResourceNotFoundException,
 * 429 TooManyRequestsException when every container is busy or the function is throttled,
 * 413 RequestTooLargeException beyond 6 MB (sync) or 1 MB (async).
 *
 * A function has containers; each runs one invocation at a time, as Lambda's execution
 * environments do. An invocation past the function's timeout is answered as Lambda answers it.
 */

/** The result of one invocation, as the Node runtime reports it. */
export type InvokeResult =
  | { ok: true; payload: string }
  | { ok: false; error: { errorType: string; errorMessage: string; trace?: string[] } }

/** One execution environment of a function. */
export interface Container {
  /** Runs one invocation: the payload as sent, and the time Lambda would stop it (ms since the epoch). */
  invoke(payload: string, info: { requestId: string; deadline: number; functionName: string }): Promise<InvokeResult>
  /** Called when the endpoint closes. */
  close?(): Promise<void>
}

/** What the endpoint recorded of one invocation. */
export interface Invocation {
  readonly functionName: string
  readonly type: string
  readonly payload: string
  /** Filled in when the invocation has run (Event invocations run after the 202). */
  result?: InvokeResult
}

interface LocalFunction {
  readonly name: string
  readonly timeoutMs: number
  readonly containers: { container: Container; busy: boolean }[]
  readonly queue: { payload: string; record: Invocation }[]
  throttled: boolean
}

/** A running local endpoint. */
export interface LambdaEndpoint {
  /** Its base URL, for the SDK's `endpoint`. */
  readonly url: string
  /** Every invocation received, in order. */
  readonly invocations: Invocation[]
  /** Adds a function with its containers; its invocations time out after `timeoutMs`. */
  addFunction(name: string, containers: Container[], timeoutMs?: number): void
  /** Adds a container to a function already added. */
  addContainer(name: string, container: Container): void
  /** Makes every invocation of `name` answer 429, as a function with reserved concurrency 0 does. */
  throttle(name: string, on: boolean): void
  /** Resolves once no Event invocation is queued or running. */
  idle(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const SYNC_LIMIT = 6 * 1024 * 1024
const ASYNC_LIMIT = 1024 * 1024
const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/

/** Starts the endpoint on 127.0.0.1, on a free port. */
export async function startLambdaEndpoint(): Promise<LambdaEndpoint> {
  const functions = new Map<string, LocalFunction>()
  const invocations: Invocation[] = []
  let running = 0

  function run(
    fn: LocalFunction,
    slot: LocalFunction['containers'][number],
    payload: string,
    record: Invocation,
  ): Promise<InvokeResult> {
    slot.busy = true
    running++
    const requestId = randomUUID()
    const deadline = Date.now() + fn.timeoutMs
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<InvokeResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ok: false,
            error: {
              errorType: 'Sandbox.Timedout',
              errorMessage: `${new Date().toISOString()} ${requestId} Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`,
            },
          }),
        fn.timeoutMs,
      )
    })
    const work = slot.container.invoke(payload, { requestId, deadline, functionName: fn.name }).catch(
      (err: unknown): InvokeResult => ({
        ok: false,
        error: { errorType: 'Runtime.ExitError', errorMessage: String(err) },
      }),
    )
    // The container stays busy until its invocation has really ended, even past a time-out.
    void work.then(() => {
      slot.busy = false
      running--
      next(fn)
    })
    return Promise.race([work, timedOut]).then((result) => {
      clearTimeout(timer)
      record.result = result
      return result
    })
  }

  /** Starts queued Event invocations on free containers. */
  function next(fn: LocalFunction): void {
    for (const slot of fn.containers) {
      if (fn.queue.length === 0) return
      if (slot.busy) continue
      const { payload, record } = fn.queue.shift()!
      void run(fn, slot, payload, record)
    }
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local')
    const m = PATH.exec(url.pathname)
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    if (req.method !== 'POST' || m === null) return awsError(res, 404, 'UnknownOperationException', 'Unknown operation')
    // A name, a partial or a full ARN, with an optional :qualifier: the name is what we key on.
    const ref = decodeURIComponent(m[1]!)
    const parts = ref.split(':')
    const at = parts.indexOf('function')
    const name = at >= 0 ? parts[at + 1]! : parts[0]!
    const fn = functions.get(name)
    if (fn === undefined)
      return awsError(
        res,
        404,
        'ResourceNotFoundException',
        `Function not found: arn:aws:lambda:us-east-1:000000000000:function:${name}`,
      )
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse')
    if (type === 'DryRun') {
      res.writeHead(204).end()
      return
    }
    const limit = type === 'Event' ? ASYNC_LIMIT : SYNC_LIMIT
    if (body.length > limit)
      return awsError(
        res,
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${limit} bytes for the Invoke operation`,
      )
    if (fn.throttled) return throttled(res)
    const payload = body.toString('utf8')
    const record: Invocation = { functionName: name, type, payload }
    invocations.push(record)
    if (type === 'Event') {
      // Lambda queues an asynchronous invocation and answers at once.
      fn.queue.push({ payload, record })
      res.writeHead(202, { 'content-length': '0' }).end()
      next(fn)
      return
    }
    const slot = fn.containers.find((s) => !s.busy)
    if (slot === undefined) return throttled(res)
    const result = await run(fn, slot, payload, record)
    if (res.destroyed) return
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' }
    let text: string
    if (result.ok) text = result.payload
    else {
      headers['x-amz-function-error'] = 'Unhandled'
      text = JSON.stringify(result.error)
    }
    res.writeHead(200, headers).end(text)
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      if (!res.headersSent) awsError(res, 500, 'ServiceException', String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    invocations,
    addFunction(name, containers, timeoutMs = 3000) {
      functions.set(name, {
        name,
        timeoutMs,
        containers: containers.map((container) => ({ container, busy: false })),
        queue: [],
        throttled: false,
      })
    },
    addContainer(name, container) {
      const fn = functions.get(name)
      if (fn === undefined) throw new Error(`no function ${name}`)
      fn.containers.push({ container, busy: false })
    },
    throttle(name, on) {
      functions.get(name)!.throttled = on
    },
    async idle(timeoutMs = 5000) {
      const until = Date.now() + timeoutMs
      while (running > 0 || [...functions.values()].some((f) => f.queue.length > 0)) {
        if (Date.now() > until) throw new Error('timed out waiting for Event invocations to finish')
        await new Promise((r) => setTimeout(r, 5))
      }
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      for (const fn of functions.values()) for (const s of fn.containers) await s.container.close?.()
    },
  }
}

function throttled(res: ServerResponse): void {
  // What Lambda answers when no concurrency is left for the function.
  awsError(res, 429, 'TooManyRequestsException', 'Rate Exceeded.', {
    Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
  })
}

function awsError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const body = JSON.stringify({ Type: 'User', message, ...extra })
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-errortype': type,
      'content-length': String(Buffer.byteLength(body)),
    })
    .end(body)
}

/**
 * A container running a handler in this process, for tests whose services are built in the
 * test itself (the conformance suite). The handler gets a context as the Node runtime gives.
 */
export function inProcessContainer(handler: (event: unknown, context: any) => Promise<unknown>): Container {
  return {
    async invoke(payload, info) {
      const context = {
        awsRequestId: info.requestId,
        functionName: info.functionName,
        getRemainingTimeInMillis: () => Math.max(0, info.deadline - Date.now()),
      }
      try {
        const out = await handler(JSON.parse(payload), context)
        return { ok: true, payload: JSON.stringify(out ?? null) }
      } catch (err) {
        return { ok: false, error: runtimeError(err) }
      }
    },
  }
}

/**
 * How the Node runtime (aws-lambda-nodejs-runtime-interface-client, `toRapidResponse`) reports
 * a thrown error in the invocation's answer: an Error, or anything with string `name`,
 * `message` and `stack`, gives its name, message and stack split into lines; anything else its
 * `typeof` and `toString()`, with no trace.
 */
export function runtimeError(err: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown } | null | undefined
  const errorLike =
    e !== null &&
    e !== undefined &&
    typeof e.name === 'string' &&
    e.name !== '' &&
    typeof e.message === 'string' &&
    e.message !== '' &&
    typeof e.stack === 'string' &&
    e.stack !== ''
  if (types.isNativeError(err) || errorLike) {
    const n = err as Error
    return { errorType: n.name, errorMessage: n.message, trace: (n.stack ?? '').split('\n') }
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] }
}
