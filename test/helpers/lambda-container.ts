import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Container, InvokeResult } from './lambda-endpoint.js'

const RUNTIME = fileURLToPath(new URL('./lambda-runtime.ts', import.meta.url))

/** An execution environment in its own process, as Lambda runs one. */
export interface ChildContainer extends Container {
  /** How long loading the handler module took, ms (Lambda's init phase). */
  readonly initMs: number
  /** What the function wrote to stderr so far (its log). */
  stderr(): string
  close(): Promise<void>
}

/**
 * Starts a child process that loads `modulePath` and exports its `exportName` handler as a
 * Lambda runtime would, and resolves once the module is loaded (or rejects after `timeoutMs`).
 */
export function childContainer(
  modulePath: string,
  exportName = 'handler',
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<ChildContainer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', RUNTIME, modulePath, exportName], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  })
  let log = ''
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  const waiting = new Map<number, (r: InvokeResult) => void>()
  let next = 1
  let exited = false
  child.on('exit', () => {
    exited = true
    for (const done of waiting.values())
      done({ ok: false, error: { errorType: 'Runtime.ExitError', errorMessage: 'the runtime exited' } })
    waiting.clear()
  })
  child.on(
    'message',
    (m: {
      type: string
      id?: number
      ok?: boolean
      payload?: string
      error?: { errorType: string; errorMessage: string }
    }) => {
      if (m.type !== 'result' || m.id === undefined) return
      const done = waiting.get(m.id)
      waiting.delete(m.id)
      done?.(m.ok === true ? { ok: true, payload: m.payload! } : { ok: false, error: m.error! })
    },
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the runtime for ${modulePath} did not start within ${timeoutMs} ms\n${log}`))
    }, timeoutMs)
    child.once('message', (m: { type: string; initMs?: number; error?: { errorMessage: string } }) => {
      clearTimeout(timer)
      if (m.type !== 'ready') {
        reject(new Error(`the runtime for ${modulePath} failed to start: ${m.error?.errorMessage ?? m.type}`))
        return
      }
      resolve({
        initMs: m.initMs!,
        stderr: () => log,
        invoke(payload, info) {
          if (exited)
            return Promise.resolve({
              ok: false,
              error: { errorType: 'Runtime.ExitError', errorMessage: 'the runtime exited' },
            })
          const id = next++
          return new Promise<InvokeResult>((done) => {
            waiting.set(id, done)
            child.send({ type: 'invoke', id, payload, ...info })
          })
        },
        async close() {
          if (exited) return
          const gone = new Promise((r) => child.once('exit', r))
          child.kill('SIGTERM')
          await gone
        },
      })
    })
  })
}
