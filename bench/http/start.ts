import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * Starts one server of the suite (`server.ts <kind>`) in its own process and resolves with the
 * URL it printed, once it listens.
 */
export function startServer(kind: string): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${here}server.ts`, kind], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) resolve({ url: (JSON.parse(line) as { url: string }).url, child })
    })
    child.on('exit', (code) => reject(new Error(`server ${kind} exited with ${code}`)))
  })
}
