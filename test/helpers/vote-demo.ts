import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'

const root = new URL('../../', import.meta.url).pathname

/** Starts the embedded demo as `npm start` runs it, on a free port and its own data directory. */
export function startDemo(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/vote/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', VOTE_DATA_DIR: dataDir, JWT_SECRET: 'embedded-e2e-secret-of-forty-characters' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in 90 s:\n${out}`)), 90_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = /vote:\s+(http:\/\/\S+)\//.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({ child, url: m[1]! })
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the demo exited with ${code}:\n${out}`))
    })
  })
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}
