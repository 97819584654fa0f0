import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startServer as start } from '../lib.js'

/**
 * Starts one server of the suite (`server.ts <kind>`) in its own process and resolves with the
 * URL it printed, once it listens.
 */
export function startServer(kind: string): Promise<{ url: string; child: ChildProcess }> {
  return start(fileURLToPath(new URL('server.ts', import.meta.url)), kind)
}
