import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { runtimeError } from './lambda-endpoint.js'

/*
 * A Lambda runtime for tests, run as a child process by lambda-container.ts: it loads the
 * handler module once (Lambda's init phase), then runs invocations one at a time as they
 * arrive over IPC, with a context as the Node runtime gives, and reports results and thrown
 * errors as the Node runtime does (`{ errorType, errorMessage, trace }`).
 *
 * Usage: node --import tsx lambda-runtime.ts <module> [export]
 */

interface Invoke {
  type: 'invoke'
  id: number
  payload: string
  requestId: string
  functionName: string
  deadline: number
}

const [modulePath, exportName = 'handler'] = process.argv.slice(2)
const send = (m: unknown) => process.send!(m)

const t0 = performance.now()
let handler: (event: unknown, context: unknown) => Promise<unknown>
try {
  const mod = (await import(pathToFileURL(resolve(modulePath!)).href)) as Record<string, unknown>
  const fn = mod[exportName]
  if (typeof fn !== 'function') throw new Error(`${modulePath} exports no function "${exportName}"`)
  handler = fn as typeof handler
  send({ type: 'ready', initMs: performance.now() - t0 })
} catch (err) {
  send({ type: 'init-error', error: { ...runtimeError(err), errorType: 'Runtime.ImportModuleError' } })
  process.exit(1)
}

let busy = false
process.on('message', (m: Invoke) => {
  if (m.type !== 'invoke') return
  // Lambda never gives an execution environment a second invocation while one runs.
  if (busy) throw new Error('two invocations at once in one runtime')
  busy = true
  const context = {
    awsRequestId: m.requestId,
    functionName: m.functionName,
    getRemainingTimeInMillis: () => Math.max(0, m.deadline - Date.now()),
  }
  Promise.resolve()
    .then(() => handler(JSON.parse(m.payload), context))
    .then(
      (out) => ({ type: 'result', id: m.id, ok: true, payload: JSON.stringify(out ?? null) }),
      (err: unknown) => ({ type: 'result', id: m.id, ok: false, error: runtimeError(err) }),
    )
    .then((answer) => {
      busy = false
      send(answer)
    })
})
